// Hands glibc's free heap pages back to the kernel (malloc_trim) and reports what malloc holds
// (mallinfo2), for the relay's memory trimmer (src/daemon/memory-trim.ts).
//
// Why: TLS handshakes and the data path allocate in C (OpenSSL, libuv, the splice engine) on
// several threads, each of which glibc serves from its own arena. After a burst of sessions
// those arenas hold freed memory that glibc keeps mapped because a few live blocks pin the top
// of each heap; the process RSS then climbs in steps although nothing leaks. malloc_trim(0)
// walks every arena and releases whole free pages anywhere in it (madvise), not only at the top.
//
// A separate addon from the splice engine so that either builds and loads without the other.
// On a C library other than glibc both calls report "unavailable" and do nothing.
#include <napi.h>

#if defined(__GLIBC__)
#include <malloc.h>
#define FRELAY_HAVE_MALLOC_TRIM 1
#if __GLIBC_PREREQ(2, 33)
#define FRELAY_HAVE_MALLINFO2 1
#endif
#endif

namespace {

// trimMemory(): true when glibc released memory, false when it had none to give back,
// undefined when this C library has no malloc_trim.
Napi::Value TrimMemory(const Napi::CallbackInfo& info) {
#ifdef FRELAY_HAVE_MALLOC_TRIM
  return Napi::Boolean::New(info.Env(), malloc_trim(0) != 0);
#else
  return info.Env().Undefined();
#endif
}

// mallocStats(): bytes malloc holds, from mallinfo2: {heap, inUse, free, mmapped}, where heap is
// the arenas' total (in use + free, excluding blocks that have their own mmap); undefined
// without mallinfo2.
Napi::Value MallocStats(const Napi::CallbackInfo& info) {
#ifdef FRELAY_HAVE_MALLINFO2
  struct mallinfo2 mi = mallinfo2();
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("heap", Napi::Number::New(info.Env(), static_cast<double>(mi.arena)));
  out.Set("inUse", Napi::Number::New(info.Env(), static_cast<double>(mi.uordblks)));
  out.Set("free", Napi::Number::New(info.Env(), static_cast<double>(mi.fordblks)));
  out.Set("mmapped", Napi::Number::New(info.Env(), static_cast<double>(mi.hblkhd)));
  return out;
#else
  return info.Env().Undefined();
#endif
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("trimMemory", Napi::Function::New(env, TrimMemory));
  exports.Set("mallocStats", Napi::Function::New(env, MallocStats));
  return exports;
}

}  // namespace

NODE_API_MODULE(frelay_memory, Init)
