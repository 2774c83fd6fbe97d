// PKCS#11 v2.40 types from p11-kit's header (standard Cryptoki names). The token's module is loaded with dlopen,
// so nothing is linked here.
#include <p11-kit/pkcs11.h>
#include <dlfcn.h>
