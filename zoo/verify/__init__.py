"""Numerical checks of exported models beyond this machine: ``zoo.verify.arm`` runs an ncnn model
on an emulated Raspberry Pi 5 CPU (qemu-user) and compares it with x86 ncnn on the same inputs."""
