/*
 * toml.h: a complete TOML 1.0 parser (https://toml.io/en/v1.0.0).
 *
 * The parser turns a whole document into an immutable tree of toml_value.
 * Every value remembers where it was written (line and column, 1-based,
 * columns counted in bytes) so that the configuration layer can report
 * "file:line:col: message" for a value of the wrong type or range.
 * Tables keep their keys in document order.
 *
 * It never prints and never exits; it does no I/O but toml_parse_file().
 */
#ifndef TOML_H
#define TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum toml_type {
	TOML_TABLE,
	TOML_ARRAY,
	TOML_STRING,
	TOML_INTEGER,
	TOML_FLOAT,
	TOML_BOOL,
	TOML_DATETIME,       /* offset date-time: 1979-05-27T07:32:00Z */
	TOML_DATETIME_LOCAL, /* 1979-05-27T07:32:00 */
	TOML_DATE_LOCAL,     /* 1979-05-27 */
	TOML_TIME_LOCAL,     /* 07:32:00 */
} toml_type;

typedef struct toml_datetime {
	int year, month, day;     /* valid when the type has a date */
	int hour, minute, second; /* valid when the type has a time */
	int nanosecond;           /* fractional seconds, truncated to ns */
	int frac_digits;          /* digits written after the '.', 0 if none */
	int offset_minutes;       /* TOML_DATETIME only; 0 for 'Z' */
	bool offset_z;            /* the offset was written as Z/z */
} toml_datetime;

typedef struct toml_value toml_value;

/* Where parsing stopped. file is the name given to the parser (not owned). */
typedef struct toml_error {
	const char *file;
	int line, col;
	char msg[256];
} toml_error;

/*
 * Parses len bytes of buf. filename is used in error messages only.
 * Returns the root table, or NULL with *err filled (first error only: a
 * TOML document with a syntax error has no meaningful remainder).
 */
toml_value *toml_parse(const char *buf, size_t len, const char *filename, toml_error *err);

/* Reads and parses a file; an I/O error is reported in *err with line 0. */
toml_value *toml_parse_file(const char *path, toml_error *err);

/* Frees a tree returned by toml_parse*(). NULL is allowed. */
void toml_free(toml_value *root);

toml_type toml_type_of(const toml_value *v);
const char *toml_type_name(toml_type t); /* "string", "integer", ... */
int toml_line(const toml_value *v);      /* where the value starts */
int toml_col(const toml_value *v);

/* Tables. Keys are UTF-8 and may contain NUL bytes (keylen tells). */
size_t toml_table_len(const toml_value *table);
const char *toml_table_key(const toml_value *table, size_t i, size_t *keylen);
const toml_value *toml_table_value(const toml_value *table, size_t i);
int toml_table_key_line(const toml_value *table, size_t i); /* where key i was written */
int toml_table_key_col(const toml_value *table, size_t i);
/* The value of key (NUL-terminated), or NULL. */
const toml_value *toml_table_get(const toml_value *table, const char *key);

/* Arrays (also arrays of tables). */
size_t toml_array_len(const toml_value *array);
const toml_value *toml_array_at(const toml_value *array, size_t i);

/* Scalars. The caller checks the type first; a wrong type returns 0/NULL. */
const char *toml_string(const toml_value *v, size_t *len); /* NUL-terminated too */
int64_t toml_integer(const toml_value *v);
double toml_float(const toml_value *v);
bool toml_bool(const toml_value *v);
const toml_datetime *toml_datetime_of(const toml_value *v);

#endif
