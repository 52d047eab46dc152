/* tests/unit/broker/users/testkeys.h - fixed public keys for the broker unit tests
 * (made once with ssh-keygen; only the public halves are kept). */
#ifndef BURROW_TESTS_UNIT_BROKER_TESTKEYS_H
#define BURROW_TESTS_UNIT_BROKER_TESTKEYS_H

#define TK_ED1 "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOSHq6qSafyMn4+1cZox2oTfpdDbTRyCPJjoDE/MZM7V"
#define TK_ED2 "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIClBMWSKA/gjA8UBLYVEvtoUvi3fhOQxnL4GC9EVr95I"
#define TK_RSA3072                                                                                 \
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQC3b8lkTYJOZ2oBTOuripJkK6upt+14xBgXdWnq4TsM"             \
    "R9FVpqFUppqsSBNjyU16CVAVHbHfqbx70DsGrsZbZMEz3cT05tUYSgIqxzY6DBnlN6EE5eO9iiXQaW7K"             \
    "+UCNjZRbZ9dt1xeOR9UxBmIG93h0NNHHmQ4z0VQUXcd27S7gMr+rmkPkycDE5O6NJVxyzwbIcUPwG990"             \
    "YbIF4uh4I+ePIzOw8yaD1tWOo5HXkJktuKZmj8Hm28sydYizvnYSZn4diCZnxZ9pUnYNyOCW4gXhXyRU"             \
    "To4rqhNWL/29cXdXYPfLbozGxCJ6iEpT2+3i4udgGydh4zohGSlwpdwp2d0CjJ9Z40IbojJEnIQkZD+l"             \
    "3EjCk0RHPPKc5fvUNsDkckEwsEEn5oUqjRdodry+xW2N6yZLHxQg1fIpY7yTGSl2Drkij1WAyOxwxO6b"             \
    "+wDRAtVODtcj5Z57Jn7exgQaeqQESKp+mEE8WEsKO35AZItqpP4VyIAbDS6UqM5E0/ALMtM="
#define TK_RSA1024                                                                                 \
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDl/49Sjj8PfGPg+p+bgduZDYHsviBEsGxYporq/QaY"             \
    "h8Sy5ym18jiO2GQap4HqvSdTUnlELRGugKQCKZxapIvc6AKvdOF3RKe1Bv0dWrVGAIUZHW/AyWRtqVgh"             \
    "j8ODKxz8tatOy6c07I/BvkIUW9tlJ76tjP/TcwzPlROuatdsiQ=="
#define TK_ECDSA256                                                                                \
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBGCVMVJU"             \
    "gT/3HY+ulcTm92Roa2sAr1ooQL+MpXIA6+Nhm0bIW2lM1fbg0QMcp4z092xfBter7+cxrqxO9vLXjqA="

#endif /* BURROW_TESTS_UNIT_BROKER_TESTKEYS_H */
