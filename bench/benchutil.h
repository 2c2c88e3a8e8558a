/*
 * Portcullis bench: what the load generator and the sink share.
 */
#ifndef BENCHUTIL_H
#define BENCHUTIL_H

#include <sys/socket.h>

long long	bench_number(const char *, long long, long long, const char *);
void		bench_addr(const char *, struct sockaddr_storage *, socklen_t *);
void		bench_raise_nofile(void);
double		bench_now(void);

#endif
