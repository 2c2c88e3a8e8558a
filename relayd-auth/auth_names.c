/*
 * Portcullis: names of the messages between the front end and auth.
 */
#include "auth_imsg.h"

const char *const auth_imsg_names[IMSG_AUTH_COUNT] = {
	"IMSG_AUTH_RCPT_REQ",
	"IMSG_AUTH_RCPT_RES",
	"IMSG_AUTH_LOGIN_REQ",
	"IMSG_AUTH_LOGIN_RES",
};
