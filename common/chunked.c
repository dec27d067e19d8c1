/*
 * chunked.c: the framing of a chunked request body (RFC 9112 section
 * 7.1), checked strictly beside http-parser.
 *
 * http-parser 2.9 built without HTTP_PARSER_STRICT (as Debian ships it)
 * takes any two bytes after a chunk's data for its CRLF, any byte after
 * the CR of a chunk-size line, and a bare LF to end the trailers. A
 * proxy in front that frames the same bytes strictly then sees another
 * request boundary than the worker: request smuggling. The worker feeds
 * every byte of a chunked body that http-parser consumed to this checker
 * too, and refuses the request when the two disagree.
 *
 *   chunked-body = *chunk last-chunk trailer-section CRLF
 *   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   chunk-ext    = *( BWS ";" ... )   (kept opaque: visible, SP, HTAB)
 *   trailer      = *( field-name ":" field-value CRLF )
 *
 * A chunk-size larger than what is left of the body limit is refused as
 * soon as its digits say so, before its data is read. Pure (fuzzed).
 */
#include <string.h>

#include "common.h"

enum {
	CK_SIZE_START,	/* the first hex digit of a chunk-size */
	CK_SIZE,	/* more digits, BWS, ';' or CR */
	CK_BWS,		/* blanks after the size: ';' must follow */
	CK_EXT,		/* the extensions, up to CR */
	CK_SIZE_LF,
	CK_DATA,
	CK_DATA_CR,
	CK_DATA_LF,
	CK_TRAILER,	/* a trailer line starts, or the final CR */
	CK_TRAILER_NAME,
	CK_TRAILER_VALUE,
	CK_TRAILER_LF,
	CK_END_LF,
	CK_DONE,
	CK_FAILED,
};

#define CK_SIZE_DIGITS_MAX 16
#define CK_EXT_MAX 4096
#define CK_TRAILER_MAX 8192

void
chunked_init(struct chunked *ck, uint64_t max)
{
	memset(ck, 0, sizeof(*ck));
	ck->ck_state = CK_SIZE_START;
	ck->ck_max = max;
}

static int
ck_hex(unsigned char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* A tchar of RFC 9110: the bytes of a field name. */
static int
ck_tchar(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || (ch != '\0' &&
	    strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* A byte of a field value or chunk extension: HTAB, SP, VCHAR or
 * obs-text; no other control. */
static int
ck_text(unsigned char ch)
{
	return ch == '\t' || (ch >= 0x20 && ch != 0x7f);
}

int
chunked_feed(struct chunked *ck, const char *buf, size_t len, size_t *used_r)
{
	const unsigned char *p = (const unsigned char *)buf;
	size_t i = 0, n;
	int d;

	*used_r = 0;
	if (ck->ck_state == CK_FAILED)
		return ck->ck_result;
	if (ck->ck_state == CK_DONE)
		return len == 0 ? CHUNKED_DONE : CHUNKED_BAD;
	while (i < len) {
		unsigned char ch = p[i];

		switch (ck->ck_state) {
		case CK_SIZE_START:
		case CK_SIZE:
			if ((d = ck_hex(ch)) >= 0) {
				if (++ck->ck_digits > CK_SIZE_DIGITS_MAX)
					goto bad;
				ck->ck_size = ck->ck_size << 4 | (uint64_t)d;
				if (ck->ck_size > ck->ck_max - ck->ck_total)
					goto too_large;
				ck->ck_state = CK_SIZE;
			} else if (ck->ck_state == CK_SIZE_START)
				goto bad;
			else if (ch == ' ' || ch == '\t')
				ck->ck_state = CK_BWS;
			else if (ch == ';')
				ck->ck_state = CK_EXT;
			else if (ch == '\r')
				ck->ck_state = CK_SIZE_LF;
			else
				goto bad;
			break;
		case CK_BWS:
			if (ch == ';')
				ck->ck_state = CK_EXT;
			else if (ch != ' ' && ch != '\t')
				goto bad;
			break;
		case CK_EXT:
			if (ch == '\r')
				ck->ck_state = CK_SIZE_LF;
			else if (!ck_text(ch) || ++ck->ck_line > CK_EXT_MAX)
				goto bad;
			break;
		case CK_SIZE_LF:
			if (ch != '\n')
				goto bad;
			ck->ck_line = 0;
			ck->ck_digits = 0;
			ck->ck_total += ck->ck_size;
			ck->ck_state = ck->ck_size == 0 ? CK_TRAILER : CK_DATA;
			break;
		case CK_DATA:
			n = len - i;
			if (n > ck->ck_size)
				n = (size_t)ck->ck_size;
			ck->ck_size -= n;
			i += n;
			if (ck->ck_size == 0)
				ck->ck_state = CK_DATA_CR;
			continue;
		case CK_DATA_CR:
			if (ch != '\r')
				goto bad;
			ck->ck_state = CK_DATA_LF;
			break;
		case CK_DATA_LF:
			if (ch != '\n')
				goto bad;
			ck->ck_state = CK_SIZE_START;
			break;
		case CK_TRAILER:
			if (ch == '\r')
				ck->ck_state = CK_END_LF;
			else if (ck_tchar(ch))
				ck->ck_state = CK_TRAILER_NAME;
			else
				goto bad;
			break;
		case CK_TRAILER_NAME:
			if (ch == ':')
				ck->ck_state = CK_TRAILER_VALUE;
			else if (!ck_tchar(ch))
				goto bad;
			break;
		case CK_TRAILER_VALUE:
			if (ch == '\r')
				ck->ck_state = CK_TRAILER_LF;
			else if (!ck_text(ch))
				goto bad;
			break;
		case CK_TRAILER_LF:
			if (ch != '\n')
				goto bad;
			ck->ck_state = CK_TRAILER;
			break;
		case CK_END_LF:
			if (ch != '\n')
				goto bad;
			ck->ck_state = CK_DONE;
			*used_r = i + 1;
			return CHUNKED_DONE;
		default:
			goto bad;
		}
		if (ck->ck_state >= CK_TRAILER && ck->ck_state <= CK_END_LF &&
		    ++ck->ck_trailer > CK_TRAILER_MAX)
			goto bad;
		i++;
	}
	*used_r = len;
	return CHUNKED_MORE;
bad:
	ck->ck_state = CK_FAILED;
	ck->ck_result = CHUNKED_BAD;
	*used_r = i;
	return CHUNKED_BAD;
too_large:
	ck->ck_state = CK_FAILED;
	ck->ck_result = CHUNKED_TOO_LARGE;
	*used_r = i;
	return CHUNKED_TOO_LARGE;
}
