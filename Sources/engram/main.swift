import Engram
OpenBLASKernels.ensureProperKernels()
