/* gateway/cli_config.c: being written. */
