# etc/: the sample configuration. `make install` puts it at
# $(DESTDIR)/etc/burrow/burrow.ini.sample (never over a real burrow.ini).
INSTALL_HOOKS += install-etc

.PHONY: install-etc
install-etc:
	install -d -m 0755 $(DESTDIR)/etc/burrow
	install -m 0644 etc/burrow.ini $(DESTDIR)/etc/burrow/burrow.ini.sample
