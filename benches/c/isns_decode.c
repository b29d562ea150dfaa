/*
 * Side-by-side decoder for benches/benches/isns_decode.rs: open-isns' own C attribute
 * decoder (libisns, Debian libisns-dev) walks the same PDU stream the Rust bench walks.
 *
 * Usage: isns_decode FILE ITERATIONS
 * Prints "<wall ns> <cpu ns> <attributes per walk>" for ITERATIONS walks. Only the decode
 * loop is timed (CLOCK_MONOTONIC and CLOCK_PROCESS_CPUTIME_ID), so process start-up does not
 * count, and the CPU figure is not inflated when the machine is shared.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <libisns/isns.h>
#include <libisns/attrs.h>
#include <libisns/buffer.h>

static volatile uint64_t sink;

static uint64_t touch(const isns_attr_list_t *list)
{
	uint64_t acc = 0;
	for (unsigned int i = 0; i < list->ial_count; i++) {
		const isns_attr_t *a = list->ial_data[i];
		const isns_value_t *v = &a->ia_value;
		acc += a->ia_tag_id;
		if (v->iv_type == &isns_attr_type_uint32)
			acc += v->iv_uint32;
		else if (v->iv_type == &isns_attr_type_uint64)
			acc += v->iv_uint64;
		else if (v->iv_type == &isns_attr_type_string)
			acc += v->iv_string ? strlen(v->iv_string) : 0;
		else if (v->iv_type == &isns_attr_type_ipaddr)
			acc += v->iv_ipaddr.s6_addr[15];
		else if (v->iv_type == &isns_attr_type_opaque)
			acc += v->iv_opaque.len;
	}
	return acc;
}

/* Walks every PDU; returns the number of attributes decoded, or -1 on a decode error. */
static long walk(unsigned char *data, size_t len)
{
	size_t off = 0;
	long attrs = 0;
	int first = 1;
	while (off + 12 <= len) {
		uint16_t plen, func;
		memcpy(&func, data + off + 2, 2);
		memcpy(&plen, data + off + 4, 2);
		func = ntohs(func);
		plen = ntohs(plen);
		unsigned char *payload = data + off + 12;
		size_t n = plen;
		buf_t bp;
		isns_attr_list_t key = ISNS_ATTR_LIST_INIT, ops = ISNS_ATTR_LIST_INIT;
		if (first && (func & 0x8000)) {
			/* Response: status, then key attributes up to the delimiter. */
			payload += 4;
			n -= 4;
			buf_init(&bp, payload, n);
			bp.tail = n;
			if (isns_attr_list_decode_delimited(&bp, &key) != ISNS_SUCCESS)
				return -1;
		} else {
			buf_init(&bp, payload, n);
			bp.tail = n;
		}
		if (isns_attr_list_decode(&bp, &ops) != ISNS_SUCCESS)
			return -1;
		sink += touch(&key) + touch(&ops);
		attrs += key.ial_count + ops.ial_count;
		isns_attr_list_destroy(&key);
		isns_attr_list_destroy(&ops);
		off += 12 + plen;
		first = 0;
	}
	return attrs;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s FILE ITERATIONS\n", argv[0]);
		return 2;
	}
	FILE *f = fopen(argv[1], "rb");
	if (!f) {
		perror(argv[1]);
		return 2;
	}
	static unsigned char data[1 << 22];
	size_t len = fread(data, 1, sizeof(data), f);
	fclose(f);
	unsigned long iters = strtoul(argv[2], NULL, 10);

	long attrs = walk(data, len);
	if (attrs < 0) {
		fprintf(stderr, "libisns failed to decode the input\n");
		return 1;
	}
	struct timespec t0, t1, c0, c1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
	for (unsigned long i = 0; i < iters; i++)
		walk(data, len);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	uint64_t ns = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000ull + (t1.tv_nsec - t0.tv_nsec);
	uint64_t cpu = (uint64_t)(c1.tv_sec - c0.tv_sec) * 1000000000ull + (c1.tv_nsec - c0.tv_nsec);
	printf("%llu %llu %ld\n", (unsigned long long)ns, (unsigned long long)cpu, attrs);
	return 0;
}
