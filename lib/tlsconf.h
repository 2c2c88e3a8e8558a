/*
 * Portcullis: libtls configurations for the listeners (server side) and
 * for outbound connections (client side).
 *
 * Every file is read here, into memory, so that a worker builds its
 * configs before chroot and the sandbox and never opens a file later
 * (tls_configure() and the handshakes then use memory only).  Defaults:
 * TLSv1.2 and TLSv1.3 (TLSCONF_PROTOCOLS), ciphers TLSCONF_CIPHERS, the
 * server's cipher order preferred.  tls_init() is called as needed.
 *
 * On failure each returns NULL (or -1) and writes a one-line reason,
 * naming the file, into err (errlen bytes, truncated, always
 * terminated).  The configs are the caller's to tls_config_free();
 * libtls keeps a reference for every tls_configure()d context, so a
 * config may be freed once its contexts are configured.
 */
#ifndef PORTCULLIS_TLSCONF_H
#define PORTCULLIS_TLSCONF_H

#include <stddef.h>
#include <stdint.h>

struct tls;
struct tls_config;

#define TLSCONF_PROTOCOLS	"tlsv1.2,tlsv1.3"
#define TLSCONF_CIPHERS		"secure"

/*
 * A server config with the certificate chain in cert and the private
 * key in key (PEM).  The pair is checked (a key that does not match
 * its certificate is an error, found here rather than at the first
 * handshake).
 */
struct tls_config	*tlsconf_server(const char *cert, const char *key,
			    char *err, size_t errlen);

/*
 * The same from PEM in memory, e.g. what the parent read and sent to
 * the front end (which may not open files).  libtls copies the bytes:
 * the caller may wipe its own copy afterwards.  err does not name a
 * file then.
 */
struct tls_config	*tlsconf_server_mem(const uint8_t *cert,
			    size_t certlen, const uint8_t *key, size_t keylen,
			    char *err, size_t errlen);

/*
 * A client config.  noverify: accept any server certificate and name
 * (opportunistic STARTTLS, "tls noverify").  Otherwise the server's
 * chain is checked against cafile, or the system's default bundle
 * (tls_default_ca_cert_file()) when cafile is NULL, and its name
 * against the servername given to io_connect_tls().
 */
struct tls_config	*tlsconf_client(int noverify, const char *cafile,
			    char *err, size_t errlen);

/* The same with the CA certificates (PEM) in memory; ignored with
 * noverify, required without. */
struct tls_config	*tlsconf_client_mem(int noverify, const uint8_t *ca,
			    size_t calen, char *err, size_t errlen);

/*
 * Change the protocols ("tlsv1.2,tlsv1.3", "all", ... as
 * tls_config_parse_protocols(3)) and/or the ciphers ("secure",
 * "compat", an OpenSSL cipher list); NULL leaves one as it is.
 */
int			 tlsconf_set(struct tls_config *, const char *protocols,
			    const char *ciphers, char *err, size_t errlen);

/*
 * A context for one endpoint: tls_server() configured with cfg (shared
 * by every connection of a listener, for io_accept_tls()), or
 * tls_client() configured with cfg (one per outbound connection, handed
 * to io_connect_tls(), which owns it).  NULL and err on failure.
 */
struct tls		*tlsconf_server_ctx(struct tls_config *,
			    char *err, size_t errlen);
struct tls		*tlsconf_client_ctx(struct tls_config *,
			    char *err, size_t errlen);

#endif
