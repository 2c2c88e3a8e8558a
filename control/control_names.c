/*
 * Portcullis: names of the control protocol's messages, shared by the
 * control process and smtpctl.
 */
#include "control_imsg.h"

const char *const control_imsg_names[IMSG_CTL_COUNT] = {
	"IMSG_CTL_HELLO",
	"IMSG_CTL_OK",
	"IMSG_CTL_FAIL",
	"IMSG_CTL_STATUS_REQ",
	"IMSG_CTL_STATUS",
	"IMSG_CTL_RELOAD_REQ",
	"IMSG_CTL_VERBOSE_REQ",
	"IMSG_CTL_STOP_REQ",
};
