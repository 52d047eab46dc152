/*
 * tests/unit/broker/users/testcerts.h - OpenSSH user certificates made with ssh-keygen -s
 * (OpenSSH 9.2) for the certificate unit tests: one ed25519 user key, CAs of
 * each kind Burrow verifies (ed25519, RSA with rsa-sha2-512, ECDSA P-256).
 */
#ifndef BURROW_TESTS_UNIT_BROKER_TESTCERTS_H
#define BURROW_TESTS_UNIT_BROKER_TESTCERTS_H

/* "id-plain", valid forever */
#define TC_PLAIN                                                                                   \
    "ssh-ed25519-cert-v01@openssh.com "                                                            \
    "AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIKCLPfMIqZgUAfKUu28Fs0XfP6cwAyOz3jd1jKqA" \
    "f3CWAAAAIFKS17w3DREBymK0tbb7PoTowUJr6/"                                                       \
    "IzVicp2miJcDalAAAAAAAAAAAAAAABAAAACGlkLXBsYWluAAAAEAAAAAVhbGljZQAAAANvcHMAAAAAAAAAAP////////" \
    "//"                                                                                           \
    "AAAAAAAAAIIAAAAVcGVybWl0LVgxMS1mb3J3YXJkaW5nAAAAAAAAABdwZXJtaXQtYWdlbnQtZm9yd2FyZGluZwAAAAAA" \
    "AAAWcGVybWl0LXBvcnQtZm9yd2FyZGluZwAAAAAAAAAKcGVybWl0LXB0eQAAAAAAAAAOcGVybWl0LXVzZXItcmMAAAAA" \
    "AAAAAAAAADMAAAALc3NoLWVkMjU1MTkAAAAgT/"                                                       \
    "gJl52TwCWHlIvxJJZJIQAcV55spt0C8WgPqUydvJ0AAABTAAAAC3NzaC1lZDI1NTE5AAAAQJbHiEGB6ij4WLp63Vq6+"  \
    "TEKuQgJC2SxsJ52kmJDVfNZ4UDr6x5qYKf/Q44XcrJvzWyb3uEfGmvv/Cw8om+j2AM="
/* "id-expired", valid from 2020-01-01T00:00:00 to 2020-01-02T00:00:00 */
#define TC_EXPIRED                                                                                 \
    "ssh-ed25519-cert-v01@openssh.com "                                                            \
    "AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIBI5F5RaG6i9BDYBnxzMbs04E+"               \
    "xpKpqg5lFXH2y2HZVpAAAAIFKS17w3DREBymK0tbb7PoTowUJr6/"                                         \
    "IzVicp2miJcDalAAAAAAAAAAAAAAABAAAACmlkLWV4cGlyZWQAAAAJAAAABWFsaWNlAAAAAF4L4QAAAAAAXg0ygAAAAA" \
    "AAAACCAAAAFXBlcm1pdC1YMTEtZm9yd2FyZGluZwAAAAAAAAAXcGVybWl0LWFnZW50LWZvcndhcmRpbmcAAAAAAAAAFn" \
    "Blcm1pdC1wb3J0LWZvcndhcmRpbmcAAAAAAAAACnBlcm1pdC1wdHkAAAAAAAAADnBlcm1pdC11c2VyLXJjAAAAAAAAAA" \
    "AAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIE/"                                                            \
    "4CZedk8Alh5SL8SSWSSEAHFeebKbdAvFoD6lMnbydAAAAUwAAAAtzc2gtZWQyNTUxOQAAAEDxTRYnqlbeKpDW/"       \
    "dKeteX9hybH1nlzhrKldOQYrZtrdq6B6mLtPxoimFzmCB70JhtDiaalOtAWGNTC6uYRiLQM"
/* "id-rsa", valid forever */
#define TC_RSA                                                                                     \
    "ssh-ed25519-cert-v01@openssh.com "                                                            \
    "AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIDDdlkXVd+"                               \
    "47DYxcf8YrnEs7MQHiUHrKAUB04Hx2johVAAAAIFKS17w3DREBymK0tbb7PoTowUJr6/"                         \
    "IzVicp2miJcDalAAAAAAAAAAAAAAABAAAABmlkLXJzYQAAAAkAAAAFYWxpY2UAAAAAAAAAAP//////////"           \
    "AAAAAAAAAIIAAAAVcGVybWl0LVgxMS1mb3J3YXJkaW5nAAAAAAAAABdwZXJtaXQtYWdlbnQtZm9yd2FyZGluZwAAAAAA" \
    "AAAWcGVybWl0LXBvcnQtZm9yd2FyZGluZwAAAAAAAAAKcGVybWl0LXB0eQAAAAAAAAAOcGVybWl0LXVzZXItcmMAAAAA" \
    "AAAAAAAAARcAAAAHc3NoLXJzYQAAAAMBAAEAAAEBAOTR/blO4pDe3B8cF1KybgTh3eXJVAY7uOipIv/"              \
    "gqjODx1q4mTRqD70LOwmbBDFJKhch2C1biGUn2iMaFCrDegbQ7TMj3ih++"                                   \
    "dzPS2qdzJ819WVQzhDh3lV6VAnBQWValgpL1PdkQUvNCoLEjc8s4yDbp7uHC3c5RQ+tZ/"                        \
    "IzqceBANG9dR8ZUBN0BOu5vpOanXOp9pCpw8d0SEWgZ9hlO/"                                             \
    "8Bj4wkZRD06NTWSWz49v3eNq4158CTqIACB2iac8h2f9/+wfy/"                                           \
    "zFp3aRWzQBSMHmuYi0lDV56ohvNQPyqAeZnEjmgrUi+YtDlKclWoLqtbhT+"                                  \
    "vI6ujBG3KxBwxb6xzoi0AAAEUAAAADHJzYS1zaGEyLTUxMgAAAQAsh6EZRFOuDcb0AcZrK/"                      \
    "7OFxK8ABOt0eHswCPeYWE28+5Vvxf4gV2sbl0L7KR+OLQzXFavwpsRqFmefdIXu8bXFVmG1HaGrMa+"               \
    "NFqRWgvWfqjxZcpSPg7dIpyUru6rQccmOfTgDOAW2kKgVCrQT4SECCd4yTYSAqbML1vw1fwhijv7DVZ0Lr1iv9oo5a7p" \
    "vyWOc/"                                                                                       \
    "Al3pO6TGOt24l84z5e3Tm87sGFP7GePUF1qN2Qzos7YcDCjb9LtVtXIwbZnZXsapvQJlltIFKN+"                  \
    "i10hnPVeAz5POemxrq9bpyFQMZ9DWepOpRc/C6bgqAVj13asLxW9Norh3Tc9XoBOvtYJ0ea"
/* "id-ec", valid forever */
#define TC_EC                                                                                      \
    "ssh-ed25519-cert-v01@openssh.com "                                                            \
    "AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIJwthnOshTA3F6TsaFqiuipguxSFhftRZ5exwSJz" \
    "T2kMAAAAIFKS17w3DREBymK0tbb7PoTowUJr6/"                                                       \
    "IzVicp2miJcDalAAAAAAAAAAAAAAABAAAABWlkLWVjAAAACQAAAAVhbGljZQAAAAAAAAAA//////////"             \
    "8AAAAAAAAAggAAABVwZXJtaXQtWDExLWZvcndhcmRpbmcAAAAAAAAAF3Blcm1pdC1hZ2VudC1mb3J3YXJkaW5nAAAAAA" \
    "AAABZwZXJtaXQtcG9ydC1mb3J3YXJkaW5nAAAAAAAAAApwZXJtaXQtcHR5AAAAAAAAAA5wZXJtaXQtdXNlci1yYwAAAA" \
    "AAAAAAAAAAaAAAABNlY2RzYS1zaGEyLW5pc3RwMjU2AAAACG5pc3RwMjU2AAAAQQQOaOIIzThE9batBIkps0rTcyBRU7" \
    "CiMX3nTdcBfUHMp4l314bCLmvP++zfw/"                                                             \
    "b+w8KmdETIhaGdx1xDaOPmasmoAAAAZQAAABNlY2RzYS1zaGEyLW5pc3RwMjU2AAAASgAAACEA8DYgHR/"            \
    "IXdyRxyL1ARKI5t1JxTY89ioJhSU4YP/ho9cAAAAhAN7a9nCZggAaIuI9rOAYsfNky6qOcTuvO8l9YYUhDJWv"
/* "id-opts", valid forever */
#define TC_OPTS                                                                                    \
    "ssh-ed25519-cert-v01@openssh.com "                                                            \
    "AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIFSOTq9zg+5CnKb7r6a/"                     \
    "NYtm5jmF1qDTugXcRe6i5zbeAAAAIFKS17w3DREBymK0tbb7PoTowUJr6/"                                   \
    "IzVicp2miJcDalAAAAAAAAAAAAAAABAAAAB2lkLW9wdHMAAAAJAAAABWFsaWNlAAAAAAAAAAD//////////"          \
    "wAAAEgAAAANZm9yY2UtY29tbWFuZAAAAA8AAAALZWNobyBmb3JjZWQAAAAOc291cmNlLWFkZHJlc3MAAAAOAAAACjEwL" \
    "jAuMC4wLzgAAABSAAAAFXBlcm1pdC1YMTEtZm9yd2FyZGluZwAAAAAAAAAXcGVybWl0LWFnZW50LWZvcndhcmRpbmcAA" \
    "AAAAAAADnBlcm1pdC11c2VyLXJjAAAAAAAAAAAAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIE/"                       \
    "4CZedk8Alh5SL8SSWSSEAHFeebKbdAvFoD6lMnbydAAAAUwAAAAtzc2gtZWQyNTUxOQAAAECRhA33eQPVvnjnVfHlsy2" \
    "oqFR+wQQVBuATtf0rhbo6tQBR2HWuKOhNQnEKiM78DpsalriJ0ahVxEtea+XaClgK"
/* "id-unknown", valid forever */
#define TC_UNKNOWN                                                                                 \
    "ssh-ed25519-cert-v01@openssh.com "                                                            \
    "AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIMnCExHs3vgox6WT2U5vol/"                  \
    "io2aQQZqr9s+2vB1sTEJrAAAAIFKS17w3DREBymK0tbb7PoTowUJr6/"                                      \
    "IzVicp2miJcDalAAAAAAAAAAAAAAABAAAACmlkLXVua25vd24AAAAJAAAABWFsaWNlAAAAAAAAAAD//////////"      \
    "wAAABkAAAAKZnJvYm5pY2F0ZQAAAAcAAAADeWVzAAAAggAAABVwZXJtaXQtWDExLWZvcndhcmRpbmcAAAAAAAAAF3Blc" \
    "m1pdC1hZ2VudC1mb3J3YXJkaW5nAAAAAAAAABZwZXJtaXQtcG9ydC1mb3J3YXJkaW5nAAAAAAAAAApwZXJtaXQtcHR5A" \
    "AAAAAAAAA5wZXJtaXQtdXNlci1yYwAAAAAAAAAAAAAAMwAAAAtzc2gtZWQyNTUxOQAAACBP+AmXnZPAJYeUi/"        \
    "EklkkhABxXnmym3QLxaA+pTJ28nQAAAFMAAAALc3NoLWVkMjU1MTkAAABAOjKu/YL+7b/"                        \
    "lyfGXDBbDE7L+mRGVz3nrY2ZRxcAwDxlpfZbGjBfQM3jbw3gA3drs/PvFo3Mja/xm2eI0DDHLAQ=="
/* "id-host", valid forever */
#define TC_HOST                                                                                    \
    "ssh-ed25519-cert-v01@openssh.com "                                                            \
    "AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIJ6MQ7XIkPP3k7sp2xkByMD0L7l126VY3hchUdS5" \
    "dmcFAAAAIFKS17w3DREBymK0tbb7PoTowUJr6/"                                                       \
    "IzVicp2miJcDalAAAAAAAAAAAAAAACAAAAB2lkLWhvc3QAAAAJAAAABWFsaWNlAAAAAAAAAAD//////////"          \
    "wAAAAAAAAAAAAAAAAAAADMAAAALc3NoLWVkMjU1MTkAAAAgT/"                                            \
    "gJl52TwCWHlIvxJJZJIQAcV55spt0C8WgPqUydvJ0AAABTAAAAC3NzaC1lZDI1NTE5AAAAQOjuUWsiZOi4wLpLa6WnH6" \
    "kH8xNN/1nVGgcCJStbN/KJhYxfOWPS1wdfKX8/6pux2Ge54lnpsTnzxvmgn/p+ggw="
/* "id-noprinc", valid forever */
#define TC_NOPRINC                                                                                 \
    "ssh-ed25519-cert-v01@openssh.com "                                                            \
    "AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIPBONlr7kh6cPWLjBS7UAcsMVFzgFtMMFkYvDjfW" \
    "XFvSAAAAIFKS17w3DREBymK0tbb7PoTowUJr6/"                                                       \
    "IzVicp2miJcDalAAAAAAAAAAAAAAABAAAACmlkLW5vcHJpbmMAAAAAAAAAAAAAAAD//////////"                  \
    "wAAAAAAAACCAAAAFXBlcm1pdC1YMTEtZm9yd2FyZGluZwAAAAAAAAAXcGVybWl0LWFnZW50LWZvcndhcmRpbmcAAAAAA" \
    "AAAFnBlcm1pdC1wb3J0LWZvcndhcmRpbmcAAAAAAAAACnBlcm1pdC1wdHkAAAAAAAAADnBlcm1pdC11c2VyLXJjAAAAA" \
    "AAAAAAAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIE/"                                                       \
    "4CZedk8Alh5SL8SSWSSEAHFeebKbdAvFoD6lMnbydAAAAUwAAAAtzc2gtZWQyNTUxOQAAAEDJGiY/"                \
    "tYOMcaqR6F4SU262U6G8GZqM6PAwUR/n9JPq6kwjg3FTlimTWuxIYZfSvgr1eAFSRtNhHAKp41MtQRgO"
#define TC_CA_ED "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE/4CZedk8Alh5SL8SSWSSEAHFeebKbdAvFoD6lMnbyd"
#define TC_CA_RSA                                                                                  \
    "ssh-rsa "                                                                                     \
    "AAAAB3NzaC1yc2EAAAADAQABAAABAQDk0f25TuKQ3twfHBdSsm4E4d3lyVQGO7joqSL/"                         \
    "4Kozg8dauJk0ag+"                                                                              \
    "9CzsJmwQxSSoXIdgtW4hlJ9ojGhQqw3oG0O0zI94ofvncz0tqncyfNfVlUM4Q4d5VelQJwUFlWpYKS9T3ZEFLzQqCxI3" \
    "PLOMg26e7hwt3OUUPrWfyM6nHgQDRvXUfGVATdATrub6Tmp1zqfaQqcPHdEhFoGfYZTv/"                        \
    "AY+MJGUQ9OjU1kls+Pb93jauNefAk6iAAgdomnPIdn/f/"                                                \
    "sH8v8xad2kVs0AUjB5rmItJQ1eeqIbzUD8qgHmZxI5oK1IvmLQ5SnJVqC6rW4U/ryOrowRtysQcMW+sc6It"
#define TC_CA_EC                                                                                   \
    "ecdsa-sha2-nistp256 "                                                                         \
    "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBA5o4gjNOET1tq0EiSmzStNzIFFTsKIxfedN1wF9" \
    "QcyniXfXhsIua8/77N/D9v7DwqZ0RMiFoZ3HXENo4+Zqyag="
#define TC_USER "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFKS17w3DREBymK0tbb7PoTowUJr6/IzVicp2miJcDal"

#endif
