# The native kernel library (src/node/native/*.cc) as a Node addon. Built by build.mjs during npm install, which never
# fails the install. Paths are relative to this folder. No -march for the whole binary: the AVX2 and AVX-512 files
# carry their own target pragmas and run only where the CPU reports those instruction sets (runtime dispatch).
{
  "targets": [
    {
      "target_name": "charnn_native",
      "sources": ["addon.cc", "isa-generic.cc"],
      "conditions": [
        ["target_arch == 'x64'", { "sources": ["isa-avx2.cc", "isa-avx512.cc"] }]
      ],
      "cflags_cc": ["-O3", "-std=gnu++17", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-O3", "-std=gnu++17"] }
    }
  ]
}
