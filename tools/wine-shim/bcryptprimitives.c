/*
 * bcryptprimitives.dll shim for running kraken-sentry's Windows test binaries under Wine 8.0.
 *
 * TEST TOOLING ONLY. Nothing that kraken-sentry ships loads or depends on this file; on real
 * Windows (8.1 and later) the system's own bcryptprimitives.dll provides ProcessPrng.
 *
 * Why it exists: Rust's std for x86_64-pc-windows-gnu imports bcryptprimitives.dll!ProcessPrng
 * (used for HashMap's RandomState and other randomness). Wine 8.0 has no bcryptprimitives.dll,
 * so every Rust exe fails to load and exits silently with code 53. scripts/wine-prefix.sh builds
 * this file with x86_64-w64-mingw32-gcc and copies the DLL into the test Wine prefix's
 * system32, and scripts/windows-env.sh sets WINEDLLOVERRIDES so this native copy is used.
 *
 * It exports exactly one function, ProcessPrng, implemented on top of RtlGenRandom
 * (advapi32.dll!SystemFunction036), which Wine implements with the host's random source.
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

/* RtlGenRandom's real export name; declared here instead of via <ntsecapi.h>. */
__declspec(dllimport) BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

/* Largest length one RtlGenRandom call accepts. */
#define SHIM_MAX_CHUNK ((ULONG)0xFFFFFFFFu)

/*
 * BOOL ProcessPrng(PBYTE pbData, SIZE_T cbData): fill cbData bytes with random data.
 * Windows documents it as always returning TRUE. RtlGenRandom takes a ULONG length, so
 * requests larger than that are filled in chunks. Returns FALSE only if RtlGenRandom fails.
 */
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T size)
{
    while (size > 0) {
        ULONG chunk = size > (SIZE_T)SHIM_MAX_CHUNK ? SHIM_MAX_CHUNK : (ULONG)size;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        size -= chunk;
    }
    return TRUE;
}

/* Entry point (linked with -nostdlib, so no C runtime is involved). */
BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved)
{
    (void)reserved;
    if (reason == DLL_PROCESS_ATTACH)
        DisableThreadLibraryCalls(instance);
    return TRUE;
}
