# Functions to run distrokit's containers, sourced by rc.containers and
# rc.shutdown. The layout (one OCI bundle per container) is LinuxKit's:
#   /containers/onboot/NNN-NAME/ and /containers/onshutdown/NNN-NAME/: runc, in order
#   /containers/services/NAME/: containerd, all at once
#   /containers/volumes/NAME/: volumes, mounted first (mount_volumes)
# Each bundle has config.json (root.path "rootfs", relative), runtime.json and
# runtime.sh (runtime.json's mounts, directories and cgroups, run before the
# container is created). runtime.json's interfaces and bindNS need the
# container's pid: distrokit writes them as a createRuntime hook in
# config.json, which runc runs (under containerd too).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

CONTAINERS=/containers
RUN_DIR=/run/distrokit
# LinuxKit's namespace, so `ctr -n services.linuxkit tasks ls` works as there.
DEFAULT_NAMESPACE=services.linuxkit
CONSOLE_LOGGER=/usr/libexec/distrokit/console-log
STOP_TIMEOUT=5

# prepare_bundle BUNDLE: make the directories and mounts runtime.json asks for.
prepare_bundle() {
	[ -f "$1/runtime.sh" ] || return 0
	(cd "$1" && sh "$1/runtime.sh")
}

# mount_volumes: mount every volume's merged directory, as LinuxKit's
# 005-volumes: an overlay of lower/ under a tmpfs in tmp/ (the volume is
# writable), or a read-only bind of lower/ (no tmp/: readonly: true).
mount_volumes() {
	for volume in "$CONTAINERS"/volumes/*; do
		[ -d "$volume/merged" ] && [ -d "$volume/lower" ] || continue
		if [ -d "$volume/tmp" ]; then
			mount -t tmpfs -o relatime tmpfs "$volume/tmp" &&
				mkdir -p "$volume/tmp/upper" "$volume/tmp/work" &&
				mount -t overlay -o "lowerdir=$volume/lower,upperdir=$volume/tmp/upper,workdir=$volume/tmp/work" \
					overlay "$volume/merged"
		else
			mount --bind "$volume/lower" "$volume/merged" &&
				mount -o remount,bind,ro "$volume/merged"
		fi || echo "distrokit: volume ${volume##*/} could not be mounted"
	done
}

# run_bundles DIR KIND: run every bundle in DIR to completion, in lexical
# order, its output on the console. A failure is reported there, and the next
# one still runs.
run_bundles() {
	for bundle in "$1"/*; do
		[ -f "$bundle/config.json" ] || continue
		id=${bundle##*/}
		name=${id#[0-9][0-9][0-9]-}
		if ! prepare_bundle "$bundle"; then
			echo "distrokit: $2 container $name: runtime.sh failed, not started"
			continue
		fi
		# A container whose runtime.json needs its pid (interfaces, bindNS)
		# has a createRuntime hook in config.json that does that part.
		runc run --bundle "$bundle" "$id" </dev/null
		status=$?
		[ "$status" -eq 0 ] || echo "distrokit: $2 container $name exited with code $status"
		runc delete --force "$id" 2>/dev/null
	done
}

# bundle_namespace BUNDLE: the containerd namespace runtime.json asks for.
bundle_namespace() {
	ns=
	[ -f "$1/runtime.json" ] &&
		ns=$(sed -n 's/.*"namespace"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$1/runtime.json")
	echo "${ns:-$DEFAULT_NAMESPACE}"
}

# start_containerd: start containerd and wait until it answers.
start_containerd() {
	ulimit -n 1048576 2>/dev/null
	setsid containerd --config /etc/containerd/config.toml \
		</dev/null >>/var/log/containerd.log 2>&1 &
	tries=0
	until [ -S /run/containerd/containerd.sock ] && ctr version >/dev/null 2>&1; do
		tries=$((tries + 1))
		if [ "$tries" -gt 600 ]; then
			echo "distrokit: containerd did not start; see /var/log/containerd.log"
			return 1
		fi
		sleep 0.1
	done
}

# start_service BUNDLE: start a service detached under containerd; its output
# goes to the console and to /var/log/NAME.log.
start_service() {
	name=${1##*/}
	if ! prepare_bundle "$1"; then
		echo "distrokit: service $name: runtime.sh failed, not started"
		return 1
	fi
	# containerd runs the spec from its own bundle directory, so root.path
	# must be absolute there.
	mkdir -p "$RUN_DIR/services"
	spec=$RUN_DIR/services/$name.json
	sed "s|\"path\"[[:space:]]*:[[:space:]]*\"rootfs\"|\"path\": \"$1/rootfs\"|" \
		"$1/config.json" > "$spec"
	if ! ctr -n "$(bundle_namespace "$1")" run --detach \
		--log-uri "binary://$CONSOLE_LOGGER" --config "$spec" "$name" </dev/null; then
		echo "distrokit: service $name failed to start"
		return 1
	fi
}

# service_pids: the host pid of every running service's init process.
service_pids() {
	for ns in $(ctr namespaces ls --quiet 2>/dev/null); do
		ctr -n "$ns" tasks ls 2>/dev/null | awk '$3 == "RUNNING" { print $2 }'
	done
}

# stop_services: SIGTERM every service, SIGKILL those still running after
# STOP_TIMEOUT seconds. The signals go straight to the pids: each ctr call
# costs a Go program's start-up, which is slow on an emulated CPU.
stop_services() {
	[ -S /run/containerd/containerd.sock ] || return 0
	pids=$(service_pids)
	[ -n "$pids" ] || return 0
	kill -TERM $pids 2>/dev/null
	ticks=$((STOP_TIMEOUT * 10))
	while [ "$ticks" -gt 0 ]; do
		alive=
		for pid in $pids; do
			kill -0 "$pid" 2>/dev/null && alive="$alive $pid"
		done
		pids=$alive
		[ -n "$pids" ] || return 0
		sleep 0.1
		ticks=$((ticks - 1))
	done
	echo "distrokit: services still running after ${STOP_TIMEOUT}s, killing them"
	kill -KILL $pids 2>/dev/null
}
