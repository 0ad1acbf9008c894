/* routes/config.c: being written. */
