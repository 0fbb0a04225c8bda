# reboot ends iovirt with status 0 (without --reboot).
echo "REBOOTING"
reboot -f
