#include "machine/config_devices.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "vfio/pci_sysfs.h"
#include "virtio/net.h"

/* Splits "key=value" (or a bare "key") in place. */
static const char *split_value(char *tok)
{
	char *eq = strchr(tok, '=');
	if (!eq)
		return NULL;
	*eq = '\0';
	return eq + 1;
}

static int parse_uint(const char *s, unsigned max, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > max)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

const struct config_key config_disk_keys[] = {
	{"readonly", NULL}, {"serial", "S"}, {"cache", "none|writeback"},
	{"if", "virtio|nvme|ide"}, {"aio", "io_uring|threads"}, {"queues", "N"},
	{"shadow-doorbells", "on|off"}, {"merge", "on|off"}, {"boot", "on|off"}, {NULL, NULL},
};
const struct config_key config_vhost_user_disk_keys[] = {
	{"vhost-user", "SOCKET"}, {"reconnect", "SECONDS"}, {NULL, NULL},
};
/* user, tap and hostfwd choose the backend (config_parse_net_backend). */
const struct config_key config_nic_keys[] = {
	{"user", NULL}, {"hostfwd", "tcp::HOSTPORT-:GUESTPORT"}, {"tap", "NAME"},
	{"mac", "M"}, {"model", "virtio|e1000"}, {"queues", "N"}, {"vhost", "on|off"},
	{NULL, NULL},
};
const struct config_key config_console_keys[] = {
	{"virtio", NULL}, {"socket", "PATH"}, {NULL, NULL},
};
const struct config_key config_device_keys[] = {
	{"vfio", "BDF"}, {"vf", "N"}, {NULL, NULL},
};

/* Is key one of the table's? (With or without a value: a known key in the
 * wrong form gets bad_value's line, not "unknown".) */
static bool key_known(const struct config_key *keys, const char *key)
{
	for (; keys->key; keys++)
		if (!strcmp(keys->key, key))
			return true;
	return false;
}

/* Writes the table as "a, b=X, c" for an error message. */
static const char *key_list(const struct config_key *keys, char *buf, size_t len)
{
	size_t at = 0;
	buf[0] = '\0';
	for (const struct config_key *k = keys; k->key && at < len; k++) {
		int n = snprintf(buf + at, len - at, "%s%s%s%s", k == keys ? "" : ", ", k->key,
				 k->value ? "=" : "", k->value ? k->value : "");
		if (n < 0)
			break;
		at += (size_t)n;
	}
	return buf;
}

/* One line for a key the table does not have; returns -EINVAL. */
static int unknown_key(const char *opt, const char *spec, const struct config_key *keys,
		       const char *key, const char *val)
{
	char list[256];
	log_error("%s %s: unknown option '%s%s%s' (%s)", opt, spec, key, val ? "=" : "",
		  val ? val : "", key_list(keys, list, sizeof(list)));
	return -EINVAL;
}

/* One line for a known key with a value it does not take; returns -EINVAL. */
static int bad_value(const char *opt, const char *spec, const struct config_key *keys,
		     const char *key, const char *val)
{
	const char *wants = "no value";
	for (; keys->key; keys++)
		if (!strcmp(keys->key, key) && keys->value)
			wants = keys->value;
	if (val)
		log_error("%s %s: %s takes %s, not '%s'", opt, spec, key, wants, val);
	else
		log_error("%s %s: %s wants a value: %s=%s", opt, spec, key, key, wants);
	return -EINVAL;
}

#define VHOST_USER_PREFIX "vhost-user="

/* Seconds between attempts to reach a vhost-user backend that hung up. */
#define VHOST_USER_RECONNECT_DEFAULT_S 1
#define VHOST_USER_RECONNECT_MAX_S 3600

/* --disk vhost-user=SOCKET[,reconnect=SECONDS]: the backend owns everything
 * the other options set (image, read-only, cache, queues...), so none of
 * them applies; reconnect is iovirt's side of the connection. */
static int parse_vhost_user_disk(const char *spec, struct disk_config *d)
{
	const char *path = spec + strlen(VHOST_USER_PREFIX);
	size_t len = strcspn(path, ",");
	if (len == 0) {
		log_error("--disk %s: missing the vhost-user socket path", spec);
		return -EINVAL;
	}
	if (len >= sizeof(d->path) || len >= 108 /* sun_path */) {
		log_error("--disk %s: socket path longer than 107 bytes", spec);
		return -EINVAL;
	}
	memcpy(d->path, path, len);
	d->path[len] = '\0';
	d->vhost_user = true;
	d->reconnect_s = VHOST_USER_RECONNECT_DEFAULT_S;
	for (const char *opt = path + len; *opt; opt += strcspn(opt, ",")) {
		opt++; /* the comma */
		size_t n = strcspn(opt, ",");
		char tok[64];
		if (n >= sizeof(tok)) { /* cut short, it could read as another value */
			log_error("--disk %s: option '%.20s...' is too long", spec, opt);
			return -EINVAL;
		}
		memcpy(tok, opt, n);
		tok[n] = '\0';
		const char *val = split_value(tok);
		if (!strcmp(tok, "reconnect") && val) {
			if (parse_uint(val, VHOST_USER_RECONNECT_MAX_S, &d->reconnect_s) < 0) {
				log_error("--disk %s: reconnect wants seconds from 0 (never) to %u, "
					  "got '%s'",
					  spec, VHOST_USER_RECONNECT_MAX_S, val);
				return -EINVAL;
			}
			continue;
		}
		log_error("--disk %s: a vhost-user disk takes only reconnect=SECONDS: '%s' is the "
			  "backend's to set",
			  spec, tok);
		return -EINVAL;
	}
	return 0;
}

int config_parse_disk(const char *spec, struct disk_config *d)
{
	memset(d, 0, sizeof(*d));
	if (!strncmp(spec, VHOST_USER_PREFIX, strlen(VHOST_USER_PREFIX)))
		return parse_vhost_user_disk(spec, d);
	char buf[CONFIG_PATH_MAX + 256];
	if (snprintf(buf, sizeof(buf), "%s", spec) >= (int)sizeof(buf)) {
		log_error("--disk: specification too long");
		return -EINVAL;
	}
	size_t path_len = strcspn(spec, ",");
	if (path_len == 0) {
		log_error("--disk %s: missing image path", spec);
		return -EINVAL;
	}
	if (path_len >= sizeof(d->path)) {
		log_error("--disk: image path longer than %zu bytes", sizeof(d->path) - 1);
		return -EINVAL;
	}
	char *save = NULL;
	char *tok = strtok_r(buf, ",", &save);
	snprintf(d->path, sizeof(d->path), "%s", tok);
	while ((tok = strtok_r(NULL, ",", &save))) {
		const char *val = split_value(tok);
		if (!key_known(config_disk_keys, tok))
			return unknown_key("--disk", spec, config_disk_keys, tok, val);
		if (!strcmp(tok, "readonly") && !val) {
			d->readonly = true;
		} else if (!strcmp(tok, "serial") && val) {
			if (strlen(val) > 20) {
				log_error("--disk %s: serial=%s is longer than 20 characters", spec, val);
				return -EINVAL;
			}
			snprintf(d->serial, sizeof(d->serial), "%s", val);
		} else if (!strcmp(tok, "cache") && val && !strcmp(val, "none")) {
			d->cache = BLK_CACHE_NONE;
		} else if (!strcmp(tok, "cache") && val && !strcmp(val, "writeback")) {
			d->cache = BLK_CACHE_WRITEBACK;
		} else if (!strcmp(tok, "if") && val && !strcmp(val, "virtio")) {
			d->model = DISK_VIRTIO;
		} else if (!strcmp(tok, "if") && val && !strcmp(val, "nvme")) {
			d->model = DISK_NVME;
		} else if (!strcmp(tok, "if") && val && !strcmp(val, "ide")) {
			d->model = DISK_IDE;
		} else if (!strcmp(tok, "aio") && val && !strcmp(val, "io_uring")) {
			d->engine = BLK_ENGINE_URING;
		} else if (!strcmp(tok, "aio") && val && !strcmp(val, "threads")) {
			d->engine = BLK_ENGINE_THREADS;
		} else if (!strcmp(tok, "queues") && val) {
			if (parse_uint(val, 64, &d->queues) < 0 || d->queues == 0) {
				log_error("--disk %s: queues=%s must be 1..64", spec, val);
				return -EINVAL;
			}
		} else if (!strcmp(tok, "shadow-doorbells") && val &&
			   (!strcmp(val, "on") || !strcmp(val, "off"))) {
			d->no_shadow_doorbells = !strcmp(val, "off");
		} else if (!strcmp(tok, "merge") && val && (!strcmp(val, "on") || !strcmp(val, "off"))) {
			d->no_merge = !strcmp(val, "off");
		} else if (!strcmp(tok, "boot") && val && (!strcmp(val, "on") || !strcmp(val, "off"))) {
			d->boot = !strcmp(val, "on");
		} else {
			return bad_value("--disk", spec, config_disk_keys, tok, val);
		}
	}
	if (d->no_merge && d->model != DISK_VIRTIO) {
		log_error("--disk %s: merge= applies to virtio disks only", spec);
		return -EINVAL;
	}
	if (d->no_shadow_doorbells && d->model != DISK_NVME) {
		log_error("--disk %s: shadow-doorbells= applies to if=nvme only", spec);
		return -EINVAL;
	}
	if (d->queues && d->model == DISK_IDE) {
		log_error("--disk %s: queues= applies to virtio and nvme disks (an IDE channel "
			  "runs one command at a time)", spec);
		return -EINVAL;
	}
	return 0;
}

static bool item_is(const char *item, size_t len, const char *key)
{
	size_t klen = strlen(key);
	return len >= klen && !strncmp(item, key, klen);
}

int config_parse_net_backend(const char *spec, struct net_options *opts, char *leftover,
			     size_t leftover_len)
{
	size_t out = 0;
	bool have_backend = false;

	memset(opts, 0, sizeof(*opts));
	if (leftover && leftover_len)
		leftover[0] = '\0';
	if (!spec || !*spec) {
		log_error("--net: empty spec (want user[,hostfwd=RULE] or tap=NAME)");
		return -EINVAL;
	}
	for (const char *p = spec;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len == 0) {
			log_error("--net %s: empty option", spec);
			return -EINVAL;
		}
		if (len == 4 && !strncmp(p, "user", 4)) {
			if (have_backend)
				goto two_backends;
			have_backend = true;
			opts->kind = NET_USER;
		} else if (item_is(p, len, "user=")) {
			log_error("--net %s: user takes no value", spec);
			return -EINVAL;
		} else if (len == 3 && !strncmp(p, "tap", 3)) {
			log_error("--net %s: tap needs a device name: tap=NAME", spec);
			return -EINVAL;
		} else if (item_is(p, len, "tap=")) {
			if (have_backend)
				goto two_backends;
			if (!net_ifname_valid(p + 4, len - 4)) {
				log_error("--net %s: bad tap device name '%.*s' (1-15 characters, "
					  "no '/', ':' or spaces)", spec, (int)(len - 4), p + 4);
				return -EINVAL;
			}
			have_backend = true;
			opts->kind = NET_TAP;
			memcpy(opts->ifname, p + 4, len - 4);
			opts->ifname[len - 4] = '\0';
		} else if (item_is(p, len, "hostfwd=")) {
			const char *rule = p + 8;
			size_t rlen = len - 8;
			struct net_hostfwd fwd;
			if (opts->n_hostfwd == NET_MAX_HOSTFWD) {
				log_error("--net %s: at most %d hostfwd rules", spec, NET_MAX_HOSTFWD);
				return -EINVAL;
			}
			char *dst = opts->hostfwd[opts->n_hostfwd];
			if (rlen >= NET_HOSTFWD_LEN) {
				log_error("--net %s: hostfwd rule too long", spec);
				return -EINVAL;
			}
			memcpy(dst, rule, rlen);
			dst[rlen] = '\0';
			if (net_parse_hostfwd(dst, &fwd)) {
				log_error("--net %s: bad hostfwd '%s' (want [tcp|udp]:[hostaddr]:hostport-"
					  "[guestaddr]:guestport, ports 1-65535)", spec, dst);
				return -EINVAL;
			}
			opts->n_hostfwd++;
		} else {
			/* Not ours: hand back to the caller, in order. */
			size_t need = (out ? 1 : 0) + len + 1;
			if (!leftover || out + need > leftover_len) {
				log_error("--net %s: too many device options", spec);
				return -EINVAL;
			}
			if (out)
				leftover[out++] = ',';
			memcpy(leftover + out, p, len);
			out += len;
			leftover[out] = '\0';
		}
		if (!end)
			break;
		p = end + 1;
	}
	if (!have_backend) {
		log_error("--net %s: no backend (want user or tap=NAME)", spec);
		return -EINVAL;
	}
	if (opts->kind != NET_USER && opts->n_hostfwd) {
		log_error("--net %s: hostfwd= needs the user backend", spec);
		return -EINVAL;
	}
	return 0;

two_backends:
	log_error("--net %s: more than one backend (user, tap=NAME)", spec);
	return -EINVAL;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned b[6];
	char tail;
	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		if (b[i] > 0xff)
			return -EINVAL;
		mac[i] = (uint8_t)b[i];
	}
	if (mac[0] & 1) /* a multicast address cannot be a NIC's */
		return -EINVAL;
	return 0;
}

int config_parse_nic(const char *spec, struct nic_config *n)
{
	memset(n, 0, sizeof(*n));
	char leftover[512];
	if (config_parse_net_backend(spec, &n->backend, leftover, sizeof(leftover)) < 0)
		return -EINVAL;
	char *save = NULL;
	for (char *tok = strtok_r(leftover, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		const char *val = split_value(tok);
		if (!key_known(config_nic_keys, tok))
			return unknown_key("--net", spec, config_nic_keys, tok, val);
		if (!strcmp(tok, "mac") && val) {
			if (parse_mac(val, n->mac) < 0) {
				log_error("--net %s: mac=%s is not a unicast MAC address", spec, val);
				return -EINVAL;
			}
			n->mac_set = true;
		} else if (!strcmp(tok, "model") && val && !strcmp(val, "virtio")) {
			n->model = NIC_VIRTIO;
		} else if (!strcmp(tok, "model") && val && !strcmp(val, "e1000")) {
			n->model = NIC_E1000;
		} else if (!strcmp(tok, "queues") && val) {
			if (parse_uint(val, VIRTIO_NET_MAX_QUEUE_PAIRS, &n->queues) < 0 ||
			    n->queues == 0) {
				log_error("--net %s: queues=%s must be 1..%d", spec, val,
					  VIRTIO_NET_MAX_QUEUE_PAIRS);
				return -EINVAL;
			}
		} else if (!strcmp(tok, "vhost") && val && (!strcmp(val, "on") || !strcmp(val, "off"))) {
			n->vhost = !strcmp(val, "on");
		} else {
			return bad_value("--net", spec, config_nic_keys, tok, val);
		}
	}
	if (n->vhost && n->model == NIC_E1000) {
		log_error("--net %s: vhost=on applies to model=virtio only (the e1000 is emulated "
			  "in the VMM)", spec);
		return -EINVAL;
	}
	if (n->vhost && n->backend.kind != NET_TAP) {
		log_error("--net %s: vhost=on needs a tap backend (user-mode networking runs in "
			  "the VMM)", spec);
		return -EINVAL;
	}
	if (n->queues > 1 && n->model == NIC_E1000) {
		log_error("--net %s: queues= applies to model=virtio only", spec);
		return -EINVAL;
	}
	if (n->queues > 1 && n->backend.kind != NET_TAP) {
		log_error("--net %s: queues= needs a tap backend (user-mode networking has one queue)",
			  spec);
		return -EINVAL;
	}
	return 0;
}

int config_parse_console(const char *spec, struct console_config *c)
{
	memset(c, 0, sizeof(*c));
	char buf[256];
	if (snprintf(buf, sizeof(buf), "%s", spec) >= (int)sizeof(buf)) {
		log_error("--console: specification too long");
		return -EINVAL;
	}
	char *save = NULL;
	char *tok = strtok_r(buf, ",", &save);
	if (!tok || strcmp(tok, "virtio") != 0) {
		log_error("--console %s: only 'virtio[,socket=PATH]' is supported", spec);
		return -EINVAL;
	}
	c->virtio = true;
	while ((tok = strtok_r(NULL, ",", &save))) {
		const char *val = split_value(tok);
		if (!key_known(config_console_keys, tok) || !strcmp(tok, "virtio"))
			return unknown_key("--console", spec, config_console_keys, tok, val);
		if (!strcmp(tok, "socket") && val && *val) {
			if (strlen(val) >= sizeof(c->socket)) {
				log_error("--console %s: socket path too long", spec);
				return -EINVAL;
			}
			snprintf(c->socket, sizeof(c->socket), "%s", val);
		} else {
			log_error("--console %s: socket= wants a path", spec);
			return -EINVAL;
		}
	}
	return 0;
}

int config_parse_device(const char *spec, struct vfio_config *d)
{
	memset(d, 0, sizeof(*d));
	char buf[256];
	if (snprintf(buf, sizeof(buf), "%s", spec) >= (int)sizeof(buf)) {
		log_error("--device: specification too long");
		return -EINVAL;
	}
	char *save = NULL;
	char *tok = strtok_r(buf, ",", &save);
	const char *val = tok ? split_value(tok) : NULL;
	if (!tok || strcmp(tok, "vfio") != 0 || !val) {
		log_error("--device %s: only 'vfio=BDF[,vf=N]' is supported", spec);
		return -EINVAL;
	}
	char bdf[PCI_BDF_LEN];
	if (pci_bdf_normalize(val, bdf) < 0) {
		log_error("--device %s: '%s' is not a PCI address (DDDD:BB:DD.F or BB:DD.F)", spec,
			  val);
		return -EINVAL;
	}
	snprintf(d->bdf, sizeof(d->bdf), "%s", bdf);
	while ((tok = strtok_r(NULL, ",", &save))) {
		val = split_value(tok);
		if (!key_known(config_device_keys, tok) || !strcmp(tok, "vfio"))
			return unknown_key("--device", spec, config_device_keys, tok, val);
		if (!strcmp(tok, "vf") && val) {
			if (parse_uint(val, 65535, &d->vf) < 0) {
				log_error("--device %s: vf wants a VF index (0, 1, ...)", spec);
				return -EINVAL;
			}
			d->vf_set = true;
		} else {
			return unknown_key("--device", spec, config_device_keys, tok, val);
		}
	}
	return 0;
}
