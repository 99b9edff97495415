/*
 * __fprintf_chk for the static musl build of the Linux agent (scripts/build-linux-agent.sh).
 *
 * Rust's std needs an unwinder; on musl it links libunwind.a, which the build takes from Debian's
 * LLVM (libunwind-14-dev). That archive was compiled against glibc with _FORTIFY_SOURCE, so its
 * error messages call glibc's checked fprintf, which musl does not have. This is that function
 * without the check: the format strings are libunwind's own constants.
 */
#include <stdarg.h>
#include <stdio.h>

int __fprintf_chk(FILE *stream, int flag, const char *format, ...)
{
    (void)flag;
    va_list args;
    va_start(args, format);
    int written = vfprintf(stream, format, args);
    va_end(args);
    return written;
}
