/*
 * Portcullis: names of the messages between the queue and mailbox.
 */
#include "mailbox_imsg.h"

const char *const mailbox_imsg_names[IMSG_MAILBOX_COUNT] = {
	"IMSG_MAILBOX_DELIVER_REQ",
	"IMSG_MAILBOX_DELIVER_RCPT",
	"IMSG_MAILBOX_DELIVER_GO",
	"IMSG_MAILBOX_RESULT",
	"IMSG_MAILBOX_DONE",
};
