/* routes/toml.c: being written. */
