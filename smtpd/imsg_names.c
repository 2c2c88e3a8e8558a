/*
 * Portcullis: the table of message ranges, one row per boundary header.
 */
#include <stddef.h>
#include <stdint.h>

#include "ipc.h"
#include "imsg_names.h"
#include "parent_imsg.h"
#include "control_imsg.h"
#include "queue_imsg.h"
#include "auth_imsg.h"
#include "delivery_imsg.h"
#include "mailbox_imsg.h"

const struct imsg_range imsg_ranges[] = {
	{ "parent", IMSG_PARENT_BASE, IMSG_PARENT_COUNT, parent_imsg_names },
	{ "auth", IMSG_AUTH_BASE, IMSG_AUTH_COUNT, auth_imsg_names },
	{ "queue", IMSG_QUEUE_BASE, IMSG_QUEUE_COUNT, queue_imsg_names },
	{ "delivery", IMSG_DELIVERY_BASE, IMSG_DELIVERY_COUNT,
	    delivery_imsg_names },
	{ "mailbox", IMSG_MAILBOX_BASE, IMSG_MAILBOX_COUNT,
	    mailbox_imsg_names },
	{ "control", IMSG_CTL_BASE, IMSG_CTL_COUNT, control_imsg_names },
};

const int imsg_nranges = sizeof(imsg_ranges) / sizeof(imsg_ranges[0]);

void
imsg_names_register(void)
{
	int	 i;

	for (i = 0; i < imsg_nranges; i++)
		ipc_register_names(imsg_ranges[i].first, imsg_ranges[i].count,
		    imsg_ranges[i].names);
}
