/*
 * double_main.c: main() of smtp-gateway-double, the daemon linked with
 * delivery_double.c instead of the webhook. Runs exactly what the real
 * daemon's fallback runs (smtp_serve_main), nothing else.
 */
#include "smtp.h"

int main(int argc, char **argv)
{
	return smtp_serve_main(argc, argv);
}
