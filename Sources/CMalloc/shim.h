/* glibc's allocator controls (mallopt), which Swift's Glibc module does not show. */
#include <malloc.h>
