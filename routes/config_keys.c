/* routes/config_keys.c: being written. */
