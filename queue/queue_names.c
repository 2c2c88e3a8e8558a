/*
 * Portcullis: names of the messages between the front end and the queue.
 */
#include "queue_imsg.h"

const char *const queue_imsg_names[IMSG_QUEUE_COUNT] = {
	"IMSG_QUEUE_CREATE_REQ",
	"IMSG_QUEUE_CREATE_OK",
	"IMSG_QUEUE_CREATE_FAIL",
	"IMSG_QUEUE_ENVELOPE",
	"IMSG_QUEUE_COMMIT_REQ",
	"IMSG_QUEUE_COMMIT_OK",
	"IMSG_QUEUE_COMMIT_FAIL",
	"IMSG_QUEUE_ROLLBACK",
};
