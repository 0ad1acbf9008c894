/* tests/toml/toml_decoder.c: being written. */
int main(void) { return 1; }
