// The start command's fast path: see faststart.go. Every check that fails
// returns to the Go code, which handles the command in full; only a pod
// shim that accepts a connection ends the process here.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

// The state directory of containerd's shim sockets (pkg/shim's
// SocketAddress: defaults.DefaultStateDir + "/s").
#define SOCKET_ROOT "/run/containerd/s/"
// The annotations that name a task's pod, in the Go code's order
// (shim/start.go: groupAnnotations).
static const char *group_keys[] = {"io.containerd.runc.v2.group", "io.kubernetes.cri.sandbox-id"};
#define NAME_MAX_LEN 256
#define SPEC_MAX (8 << 20)

/* ---- SHA-256 (FIPS 180-4) ---- */

static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(uint32_t h[8], const unsigned char *b)
{
	uint32_t w[64], a, c, d, e, f, g, hh, bb, t1, t2;
	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 | (uint32_t)b[4 * i + 2] << 8 | b[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
	for (int i = 0; i < 64; i++) {
		t1 = hh + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
		t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & bb) ^ (a & c) ^ (bb & c));
		hh = g, g = f, f = e, e = d + t1, d = c, c = bb, bb = a, a = t1 + t2;
	}
	h[0] += a, h[1] += bb, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
}

// sha256_hex writes the hex digest of msg (64 characters and a NUL) to out.
static void sha256_hex(const char *msg, size_t len, char out[65])
{
	uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
	unsigned char block[64];
	size_t i = 0;
	for (; i + 64 <= len; i += 64)
		sha256_block(h, (const unsigned char *)msg + i);
	size_t rest = len - i;
	memset(block, 0, sizeof(block));
	memcpy(block, msg + i, rest);
	block[rest] = 0x80;
	if (rest >= 56) {
		sha256_block(h, block);
		memset(block, 0, sizeof(block));
	}
	uint64_t bits = (uint64_t)len * 8;
	for (int k = 0; k < 8; k++)
		block[63 - k] = (unsigned char)(bits >> (8 * k));
	sha256_block(h, block);
	for (int k = 0; k < 8; k++)
		snprintf(out + 8 * k, 9, "%08x", h[k]);
}

/* ---- the bundle's config.json: just enough JSON for its annotations ---- */

struct js {
	const char *p, *end;
};

static void ws(struct js *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\t' || *j->p == '\r'))
		j->p++;
}

// str reads a JSON string. Its value is kept in buf only when it fits and
// has no escapes (*ok); the names compared with it never have any.
static int str(struct js *j, char *buf, size_t cap, int *ok)
{
	size_t n = 0;
	*ok = buf != NULL;
	if (j->p >= j->end || *j->p != '"')
		return -1;
	j->p++;
	while (j->p < j->end && *j->p != '"') {
		if ((unsigned char)*j->p < 0x20)
			return -1;
		if (*j->p == '\\') {
			*ok = 0;
			if (++j->p >= j->end)
				return -1;
		} else if (*ok && n + 1 < cap) {
			buf[n++] = *j->p;
		} else {
			*ok = 0;
		}
		j->p++;
	}
	if (j->p >= j->end)
		return -1;
	j->p++;
	if (buf != NULL && cap > 0)
		buf[n] = 0;
	return 0;
}

// member reads an object member's name and the colon after it; *ok as
// for str.
static int member(struct js *j, char *buf, size_t cap, int *ok)
{
	ws(j);
	if (str(j, buf, cap, ok) < 0)
		return -1;
	ws(j);
	if (j->p >= j->end || *j->p++ != ':')
		return -1;
	ws(j);
	return 0;
}

// first opens an object or array body: 1 when a member or element follows,
// 0 when it is empty (the close is consumed).
static int first(struct js *j, char close)
{
	ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		return 0;
	}
	return 1;
}

// next follows a member or element: 1 when another follows (the comma is
// consumed), 0 at the close (consumed), -1 for anything else.
static int next(struct js *j, char close)
{
	ws(j);
	if (j->p >= j->end)
		return -1;
	if (*j->p == ',') {
		j->p++;
		return 1;
	}
	if (*j->p++ == close)
		return 0;
	return -1;
}

// skip passes over one JSON value of any kind.
static int skip(struct js *j, int depth)
{
	int ok, more;
	if (depth > 64)
		return -1;
	ws(j);
	if (j->p >= j->end)
		return -1;
	char c = *j->p;
	if (c == '"')
		return str(j, NULL, 0, &ok);
	if (c == '{' || c == '[') {
		char close = c == '{' ? '}' : ']';
		j->p++;
		for (more = first(j, close); more == 1; more = next(j, close)) {
			if (c == '{' && member(j, NULL, 0, &ok) < 0)
				return -1;
			if (skip(j, depth + 1) < 0)
				return -1;
		}
		return more;
	}
	// A number, true, false or null.
	const char *start = j->p;
	while (j->p < j->end && (strchr("+-.eE", *j->p) || (*j->p >= '0' && *j->p <= '9') || (*j->p >= 'a' && *j->p <= 'z')))
		j->p++;
	return j->p > start ? 0 : -1;
}

// annotations reads the spec's annotations object, keeping the group
// annotations' values in found.
static int annotations(struct js *j, char found[2][NAME_MAX_LEN])
{
	char key[64], val[NAME_MAX_LEN];
	int ok, vok, more;
	j->p++; // the '{'
	for (more = first(j, '}'); more == 1; more = next(j, '}')) {
		if (member(j, key, sizeof(key), &ok) < 0 || str(j, val, sizeof(val), &vok) < 0)
			return -1;
		for (int k = 0; k < 2; k++) {
			if (ok && strcmp(key, group_keys[k]) == 0) {
				if (!vok)
					return -1; // escapes or too long: Go decides
				strcpy(found[k], val);
			}
		}
	}
	return more;
}

// find_group sets group to the first group annotation of the spec, if any.
// It returns -1 when the spec cannot be read as the Go code would.
static int find_group(const char *spec, size_t len, char *group, size_t cap)
{
	struct js j = {spec, spec + len};
	char key[64], found[2][NAME_MAX_LEN] = {"", ""};
	int ok, more;
	ws(&j);
	if (j.p >= j.end || *j.p++ != '{')
		return -1;
	for (more = first(&j, '}'); more == 1; more = next(&j, '}')) {
		if (member(&j, key, sizeof(key), &ok) < 0)
			return -1;
		if (ok && strcmp(key, "annotations") == 0 && j.p < j.end && *j.p == '{') {
			if (annotations(&j, found) < 0)
				return -1;
		} else if (skip(&j, 0) < 0) {
			return -1;
		}
	}
	if (more < 0)
		return -1;
	for (int k = 0; k < 2; k++) {
		if (found[k][0] != 0) {
			if (strlen(found[k]) >= cap)
				return -1;
			strcpy(group, found[k]);
			return 0;
		}
	}
	return 0;
}

/* ---- checks that keep this path's answer the Go code's ---- */

// plain_name: a namespace or group that filepath.Join leaves as it is.
static int plain_name(const char *s)
{
	if (s == NULL || s[0] == 0 || s[0] == '.' || strlen(s) >= NAME_MAX_LEN)
		return 0;
	for (const char *c = s; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' || *c == '-'))
			return 0;
	return 1;
}

// clean_path: an absolute path that filepath.Join leaves as it is.
static int clean_path(const char *s)
{
	if (s == NULL || s[0] != '/' || strlen(s) >= 1024)
		return 0;
	const char *seg = s + 1;
	for (;;) {
		const char *next = strchr(seg, '/');
		size_t n = next ? (size_t)(next - seg) : strlen(seg);
		if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return 0;
		if (!next)
			return 1;
		seg = next + 1;
	}
}

static int can_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return 0;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	int r;
	do {
		r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	} while (r < 0 && errno == EINTR);
	close(fd);
	return r == 0;
}

static int write_all(int fd, const char *b, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w, n -= (size_t)w;
	}
	return 0;
}

// flag_name returns the name of a flag argument ("-x", "--x", "-x=v"), or
// NULL for a non-flag; *value is set for the "=v" form.
static const char *flag_name(char *arg, char **value, char *buf, size_t cap)
{
	*value = NULL;
	if (arg[0] != '-' || arg[1] == 0)
		return NULL;
	const char *name = arg[1] == '-' ? arg + 2 : arg + 1;
	const char *eq = strchr(name, '=');
	size_t n = eq ? (size_t)(eq - name) : strlen(name);
	if (n == 0 || n >= cap)
		return "";
	memcpy(buf, name, n);
	buf[n] = 0;
	if (eq)
		*value = (char *)eq + 1;
	return buf;
}

void cricket_faststart(int argc, char **argv)
{
	char *ns = NULL, *id = NULL, *address = NULL, *action = NULL, name[32];
	if (argv == NULL || getenv("_LIBCONTAINER_INITPIPE") != NULL)
		return;
	for (int i = 1; i < argc; i++) {
		char *value;
		const char *f = flag_name(argv[i], &value, name, sizeof(name));
		if (f == NULL) {
			if (action != NULL)
				return;
			action = argv[i];
			continue;
		}
		if (action != NULL || strcmp(f, "-") == 0)
			return;
		char **dst = NULL;
		if (strcmp(f, "namespace") == 0)
			dst = &ns;
		else if (strcmp(f, "id") == 0)
			dst = &id;
		else if (strcmp(f, "address") == 0)
			dst = &address;
		else if (strcmp(f, "publish-binary") == 0 || strcmp(f, "socket") == 0 || strcmp(f, "bundle") == 0)
			dst = NULL;
		else
			return; // -debug, -v or anything unknown: Go decides
		if (value == NULL) {
			if (++i >= argc)
				return;
			value = argv[i];
		}
		if (dst != NULL)
			*dst = value;
	}
	if (action == NULL || strcmp(action, "start") != 0 || !plain_name(ns) || !plain_name(id) || !clean_path(address))
		return;

	char group[NAME_MAX_LEN];
	strcpy(group, id);
	int fd = open("config.json", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		struct stat st;
		static char spec[SPEC_MAX];
		size_t n = 0;
		if (fstat(fd, &st) < 0 || st.st_size >= SPEC_MAX) {
			close(fd);
			return;
		}
		for (;;) {
			ssize_t r = read(fd, spec + n, SPEC_MAX - n);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				close(fd);
				return;
			}
			if (r == 0)
				break;
			n += (size_t)r;
			if (n == SPEC_MAX) {
				close(fd);
				return;
			}
		}
		close(fd);
		if (find_group(spec, n, group, sizeof(group)) < 0)
			return;
	} else if (errno != ENOENT) {
		return;
	}
	if (!plain_name(group))
		return;

	char path[1024 + 2 * NAME_MAX_LEN + 4], digest[65], socket[sizeof(SOCKET_ROOT) + 64];
	int plen = snprintf(path, sizeof(path), "%s/%s/%s", address, ns, group);
	if (plen < 0 || (size_t)plen >= sizeof(path))
		return;
	sha256_hex(path, (size_t)plen, digest);
	snprintf(socket, sizeof(socket), "%s%s", SOCKET_ROOT, digest);
	if (!can_connect(socket))
		return; // no shim for the pod (yet): Go starts one

	// containerd writes the runtime options to stdin; the start command
	// does not use them.
	char sink[4096];
	for (;;) {
		ssize_t r = read(0, sink, sizeof(sink));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
	}
	char addr[sizeof(socket) + 8];
	int alen = snprintf(addr, sizeof(addr), "unix://%s", socket);
	int afd = open("address", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (afd < 0)
		return;
	if (write_all(afd, addr, (size_t)alen) < 0) {
		close(afd);
		return;
	}
	close(afd);
	_exit(write_all(1, addr, (size_t)alen) < 0 ? 1 : 0);
}

__attribute__((constructor)) static void cricket_faststart_init(int argc, char **argv)
{
	cricket_faststart(argc, argv);
}
