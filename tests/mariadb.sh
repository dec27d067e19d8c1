#!/bin/bash
# A private MariaDB for the tests: its own data directory, socket and
# loopback port, run as the mysql user, never the system's server.
#
#   tests/mariadb.sh start DIR   prints the DATABASE_URL to use, e.g.
#                                mysql://dataagent:PASS@127.0.0.1:PORT/dataagent
#                                (TLS too: DIR/tls/ca.pem signed the
#                                server's certificate, DIR/tls/other-ca.pem
#                                did not)
#   tests/mariadb.sh stop DIR    stops it and removes DIR
#   tests/mariadb.sh restart DIR stops and starts it again on the same port
#   tests/mariadb.sh down DIR    stops it, keeping its data (up starts it)
#   tests/mariadb.sh up DIR
#
# Exit status 2 from start means MariaDB is not installed (the caller
# skips with that reason); anything else non-zero is a failure.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then
	echo "usage: $0 start|stop|restart|down|up DIR" >&2
	exit 1
fi

mariadbd=$(command -v mariadbd || true)
[ -n "$mariadbd" ] || mariadbd=/usr/sbin/mariadbd
install_db=$(command -v mariadb-install-db || true)
client=$(command -v mariadb || command -v mysql || true)

wait_up() {
	local i
	for i in $(seq 1 200); do
		if "$client" --socket="$dir/sock" -uroot -e 'SELECT 1' \
		    >/dev/null 2>&1; then
			return 0
		fi
		if ! kill -0 "$(cat "$dir/pid" 2>/dev/null || echo 0)" 2>/dev/null &&
		    [ "$i" -gt 20 ]; then
			break
		fi
		sleep 0.1
	done
	echo "mariadb did not come up; its log:" >&2
	tail -n 30 "$dir/log" >&2 || true
	return 1
}

run_server() {
	local port
	port=$(cat "$dir/port")
	# --skip-grant-tables is not used: the tests log in with a password
	# like a real deployment does.
	setsid "$mariadbd" --no-defaults --user=mysql \
	    --datadir="$dir/data" --socket="$dir/sock" \
	    --pid-file="$dir/pid" --bind-address=127.0.0.1 --port="$port" \
	    --skip-name-resolve --innodb-buffer-pool-size=32M \
	    --innodb-log-file-size=16M --log-error="$dir/log" \
	    --max-connections=200 --ssl-ca="$dir/tls/ca.pem" \
	    --ssl-cert="$dir/tls/server.pem" --ssl-key="$dir/tls/server.key" \
	    </dev/null >/dev/null 2>&1 &
	wait_up
}

stop_server() {
	local pid
	pid=$(cat "$dir/pid" 2>/dev/null || true)
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
}

case $cmd in
start)
	if [ -z "$install_db" ] || [ ! -x "$mariadbd" ] || [ -z "$client" ]; then
		echo "mariadb-server is not installed (make deps)" >&2
		exit 2
	fi
	rm -rf "$dir"
	install -d -m 0755 "$dir"
	install -d -m 0750 -o mysql -g mysql "$dir/data"
	chown mysql:mysql "$dir"
	"$install_db" --no-defaults --user=mysql --datadir="$dir/data" \
	    --auth-root-authentication-method=socket --skip-test-db \
	    >"$dir/install.log" 2>&1 || { cat "$dir/install.log" >&2; exit 1; }
	# TLS for clients that ask (?ssl=...): a CA of its own in DIR/tls,
	# and a server certificate for 127.0.0.1 and localhost.
	install -d -m 0755 "$dir/tls"
	(
		cd "$dir/tls"
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 \
		    -subj "/CN=dataagent test MariaDB CA" \
		    -keyout ca.key -out ca.pem
		openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
		    -keyout server.key -out server.csr
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >san.ext
		openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key \
		    -CAcreateserial -days 2 -extfile san.ext -out server.pem
		# a second CA that signed nothing here: "the wrong CA"
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 \
		    -subj "/CN=another CA" -keyout other-ca.key -out other-ca.pem
		chown mysql:mysql server.key
		chmod 0600 server.key ca.key other-ca.key
	) >"$dir/tls.log" 2>&1 || { cat "$dir/tls.log" >&2; exit 1; }
	# A free loopback port: the kernel picks one, python gives it back.
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' >"$dir/port"
	run_server
	pass=$(head -c 18 /dev/urandom | base64 | tr '+/' 'xy')
	"$client" --socket="$dir/sock" -uroot <<-EOF
		CREATE DATABASE dataagent CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
		CREATE DATABASE dataagent_unit CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
		CREATE USER 'dataagent'@'127.0.0.1' IDENTIFIED BY '$pass';
		CREATE USER 'dataagent'@'localhost' IDENTIFIED BY '$pass';
		GRANT ALL ON dataagent.* TO 'dataagent'@'127.0.0.1';
		GRANT ALL ON dataagent.* TO 'dataagent'@'localhost';
		GRANT ALL ON dataagent_unit.* TO 'dataagent'@'127.0.0.1';
		GRANT ALL ON dataagent_unit.* TO 'dataagent'@'localhost';
	EOF
	echo "mysql://dataagent:$pass@127.0.0.1:$(cat "$dir/port")/dataagent" |
	    tee "$dir/url"
	;;
restart)
	stop_server
	run_server
	;;
down)
	stop_server
	;;
up)
	run_server
	;;
stop)
	stop_server
	rm -rf "$dir"
	;;
*)
	echo "usage: $0 start|stop|restart|down|up DIR" >&2
	exit 1
	;;
esac
