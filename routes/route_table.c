/* routes/route_table.c: being written. */
