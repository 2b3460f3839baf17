{
  # The vroom native addon (hypervisor/native/): TUN/TAP devices, io_uring
  # packet queues and batched UDP sockets. npm runs `node-gyp rebuild` on this
  # file at install time; it needs g++, python3 and liburing-dev
  # (tools/setup.sh installs them).
  "targets": [
    {
      "target_name": "vroom_native",
      "sources": [
        "hypervisor/native/addon.cc",
        "hypervisor/native/common.cc",
        "hypervisor/native/device.cc",
        "hypervisor/native/packet_queue.cc",
        "hypervisor/native/udp_socket.cc"
      ],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"
      ],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-luring"]
    }
  ]
}
