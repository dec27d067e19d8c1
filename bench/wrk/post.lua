-- wrk script for make bench: POST one JSON body again and again on a
-- keep-alive connection. BENCH_BODY is the body, BENCH_HEADERS extra
-- headers as "Name: value" lines separated by "\n".
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or "{}"
wrk.headers["Content-Type"] = "application/json"
for line in string.gmatch(os.getenv("BENCH_HEADERS") or "", "[^\n]+") do
	local k, v = string.match(line, "^([^:]+):%s*(.*)$")
	if k then wrk.headers[k] = v end
end

