/* routes/idna.c: being written. */
