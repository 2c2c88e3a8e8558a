/*
 * Portcullis: every boundary's message names, registered in one place
 * so that logs and fatal errors name the messages of all of them.
 */
#ifndef PORTCULLIS_IMSG_NAMES_H
#define PORTCULLIS_IMSG_NAMES_H

#include <stdint.h>

struct imsg_range {
	const char		*boundary;
	uint32_t		 first;
	uint32_t		 count;
	const char *const	*names;
};

extern const struct imsg_range imsg_ranges[];
extern const int imsg_nranges;

void	 imsg_names_register(void);

#endif
