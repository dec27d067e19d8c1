-- wrk script for make bench: GET with the headers in BENCH_HEADERS
-- ("Name: value" lines separated by "\n"), e.g. a bearer token and
-- "Connection: close" for a new connection per request.
for line in string.gmatch(os.getenv("BENCH_HEADERS") or "", "[^\n]+") do
	local k, v = string.match(line, "^([^:]+):%s*(.*)$")
	if k then wrk.headers[k] = v end
end
