/*
 * httpstatus.c: reason phrases for the status codes dataagent sends, and
 * the bodies of answers both the supervisor and the worker give.
 */
#include <string.h>

#include "common.h"

const char *
http_status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 507: return "Insufficient Storage";
	default: return "Unknown";
	}
}

int
http_path_is_mcp(const char *path)
{
	const char *rest;

	if (strncmp(path, "/api/v1/users/", 14) != 0 ||
	    (rest = strchr(path + 14, '/')) == NULL || rest == path + 14)
		return 0;
	return strcmp(rest, "/mcp") == 0 || strncmp(rest, "/mcp/", 5) == 0;
}

json_t *
http_rate_limited_body(int mcp_post, const char *body, size_t len,
    int retry_after)
{
	json_t *req, *id, *out;

	if (!mcp_post)
		return json_pack("{s:s,s:i}", "error", "rate limit exceeded",
		    "retry_after", retry_after);
	req = body != NULL ? json_loadb(body, len, 0, NULL) : NULL;
	id = json_object_get(req, "id");
	if (!json_is_string(id) && !json_is_number(id))
		id = NULL;
	out = json_pack("{s:s,s:O?,s:{s:i,s:s,s:{s:i}}}", "jsonrpc", "2.0",
	    "id", id, "error", "code", -32000, "message",
	    "rate limit exceeded", "data", "retry_after", retry_after);
	json_decref(req);
	return out;
}
