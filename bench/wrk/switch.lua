-- wrk script for make bench: GETs that alternate between tenants on
-- each connection. BENCH_SWITCH holds "path token" lines separated by
-- "\n"; request i of a connection goes to line (i mod n) + 1, with its
-- token as a bearer.
local targets = {}
for line in string.gmatch(os.getenv("BENCH_SWITCH") or "", "[^\n]+") do
	local p, t = string.match(line, "^(%S+)%s+(%S+)$")
	if p then targets[#targets + 1] = { p, "Bearer " .. t } end
end
local i = 0
request = function()
	i = i + 1
	local t = targets[(i % #targets) + 1]
	return wrk.format("GET", t[1], { ["Authorization"] = t[2] })
end
