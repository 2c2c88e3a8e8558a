/*
 * Portcullis: libtls configurations.  See tlsconf.h.
 *
 * Files are loaded with tls_load_file() and handed to libtls with the
 * *_mem() setters, which copy them; our copies are then wiped with
 * tls_unload_file().  Nothing here is kept open.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tls.h>

#include "tlsconf.h"

static void	tlsconf_err(char *, size_t, const char *, ...)
		    __attribute__((__format__ (printf, 3, 4)));
static struct tls_config *tlsconf_new(char *, size_t);

static void
tlsconf_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static const char *
tlsconf_cfgerr(struct tls_config *cfg)
{
	const char	*s = tls_config_error(cfg);

	return (s != NULL ? s : "unknown error");
}

static struct tls_config *
tlsconf_new(char *err, size_t errlen)
{
	struct tls_config	*cfg;

	if (tls_init() == -1) {
		tlsconf_err(err, errlen, "tls_init failed");
		return (NULL);
	}
	if ((cfg = tls_config_new()) == NULL) {
		tlsconf_err(err, errlen, "tls_config_new: %s",
		    strerror(errno));
		return (NULL);
	}
	if (tlsconf_set(cfg, TLSCONF_PROTOCOLS, TLSCONF_CIPHERS, err,
	    errlen) == -1) {
		tls_config_free(cfg);
		return (NULL);
	}
	return (cfg);
}

int
tlsconf_set(struct tls_config *cfg, const char *protocols,
    const char *ciphers, char *err, size_t errlen)
{
	uint32_t	 protos;

	if (protocols != NULL) {
		if (tls_config_parse_protocols(&protos, protocols) == -1) {
			tlsconf_err(err, errlen, "invalid TLS protocols \"%s\"",
			    protocols);
			return (-1);
		}
		if (tls_config_set_protocols(cfg, protos) == -1) {
			tlsconf_err(err, errlen, "TLS protocols: %s",
			    tlsconf_cfgerr(cfg));
			return (-1);
		}
	}
	if (ciphers != NULL && tls_config_set_ciphers(cfg, ciphers) == -1) {
		tlsconf_err(err, errlen, "TLS ciphers \"%s\": %s", ciphers,
		    tlsconf_cfgerr(cfg));
		return (-1);
	}
	return (0);
}

struct tls_config *
tlsconf_server_mem(const uint8_t *cert, size_t certlen, const uint8_t *key,
    size_t keylen, char *err, size_t errlen)
{
	struct tls_config	*cfg;
	struct tls		*ctx;

	if ((cfg = tlsconf_new(err, errlen)) == NULL)
		return (NULL);
	tls_config_prefer_ciphers_server(cfg);
	if (tls_config_set_keypair_mem(cfg, cert, certlen, key, keylen) ==
	    -1) {
		tlsconf_err(err, errlen, "%s", tlsconf_cfgerr(cfg));
		tls_config_free(cfg);
		return (NULL);
	}
	/* Configure a throw-away context: it checks the pair. */
	if ((ctx = tlsconf_server_ctx(cfg, err, errlen)) == NULL) {
		tls_config_free(cfg);
		return (NULL);
	}
	tls_free(ctx);
	return (cfg);
}

struct tls_config *
tlsconf_server(const char *cert, const char *key, char *err, size_t errlen)
{
	struct tls_config	*cfg = NULL;
	char			 why[256];
	uint8_t			*cmem = NULL, *kmem = NULL;
	size_t			 clen = 0, klen = 0;

	if ((cmem = tls_load_file(cert, &clen, NULL)) == NULL) {
		tlsconf_err(err, errlen, "%s: cannot load certificate: %s",
		    cert, strerror(errno));
		goto done;
	}
	if ((kmem = tls_load_file(key, &klen, NULL)) == NULL) {
		tlsconf_err(err, errlen, "%s: cannot load key: %s", key,
		    strerror(errno));
		goto done;
	}
	if ((cfg = tlsconf_server_mem(cmem, clen, kmem, klen, why,
	    sizeof(why))) == NULL)
		tlsconf_err(err, errlen, "%s, %s: %s", cert, key, why);
 done:
	if (cmem != NULL)
		tls_unload_file(cmem, clen);
	if (kmem != NULL)
		tls_unload_file(kmem, klen);
	return (cfg);
}

struct tls_config *
tlsconf_client_mem(int noverify, const uint8_t *ca, size_t calen,
    char *err, size_t errlen)
{
	struct tls_config	*cfg;

	if ((cfg = tlsconf_new(err, errlen)) == NULL)
		return (NULL);
	if (noverify) {
		tls_config_insecure_noverifycert(cfg);
		tls_config_insecure_noverifyname(cfg);
		return (cfg);
	}
	tls_config_verify(cfg);
	if (ca == NULL || calen == 0) {
		tlsconf_err(err, errlen, "no CA certificates to verify with");
		tls_config_free(cfg);
		return (NULL);
	}
	if (tls_config_set_ca_mem(cfg, ca, calen) == -1) {
		tlsconf_err(err, errlen, "CA certificates: %s",
		    tlsconf_cfgerr(cfg));
		tls_config_free(cfg);
		return (NULL);
	}
	return (cfg);
}

struct tls_config *
tlsconf_client(int noverify, const char *cafile, char *err, size_t errlen)
{
	struct tls_config	*cfg;
	char			 why[256];
	uint8_t			*mem;
	size_t			 len = 0;

	if (noverify)
		return (tlsconf_client_mem(1, NULL, 0, err, errlen));
	if (cafile == NULL)
		cafile = tls_default_ca_cert_file();
	if ((mem = tls_load_file(cafile, &len, NULL)) == NULL) {
		tlsconf_err(err, errlen, "%s: cannot load CA certificates: %s",
		    cafile, strerror(errno));
		return (NULL);
	}
	if ((cfg = tlsconf_client_mem(0, mem, len, why, sizeof(why))) ==
	    NULL)
		tlsconf_err(err, errlen, "%s: %s", cafile, why);
	tls_unload_file(mem, len);
	return (cfg);
}

static struct tls *
tlsconf_ctx(struct tls *ctx, struct tls_config *cfg, char *err,
    size_t errlen)
{
	if (ctx == NULL) {
		tlsconf_err(err, errlen, "TLS context: %s", strerror(errno));
		return (NULL);
	}
	if (tls_configure(ctx, cfg) == -1) {
		tlsconf_err(err, errlen, "TLS configure: %s",
		    tls_error(ctx) ? tls_error(ctx) : "failed");
		tls_free(ctx);
		return (NULL);
	}
	return (ctx);
}

struct tls *
tlsconf_server_ctx(struct tls_config *cfg, char *err, size_t errlen)
{
	return (tlsconf_ctx(tls_server(), cfg, err, errlen));
}

struct tls *
tlsconf_client_ctx(struct tls_config *cfg, char *err, size_t errlen)
{
	return (tlsconf_ctx(tls_client(), cfg, err, errlen));
}
