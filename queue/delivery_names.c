/*
 * Portcullis: names of the messages between the queue and delivery.
 */
#include "delivery_imsg.h"

const char *const delivery_imsg_names[IMSG_DELIVERY_COUNT] = {
	"IMSG_DELIVERY_DELIVER_REQ",
	"IMSG_DELIVERY_DELIVER_RCPT",
	"IMSG_DELIVERY_DELIVER_GO",
	"IMSG_DELIVERY_RESULT",
	"IMSG_DELIVERY_DONE",
};
