# Write a token, flush it, announce it, then wait to be killed (SIGKILL).
dev() { for d in /sys/block/vd*; do [ "$(cat "$d/serial" 2>/dev/null)" = "$1" ] && echo "${d##*/}"; done; }
S=$(dev SCRATCH)
token="durable-$(cat /proc/sys/kernel/random/uuid)"
printf '%-512s' "$token" > /tmp/token
dd if=/tmp/token of=/dev/$S bs=512 seek=4096 conv=fsync 2>/dev/null && echo "TOKEN=$token"
sleep 600
