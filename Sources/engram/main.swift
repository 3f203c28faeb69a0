import Engram
import EngramCLI
import Foundation

// OpenBLAS picks its kernels before main; re-exec with the right core type if it guessed wrong.
OpenBLASKernels.ensureProperKernels()
exit(await EngramCLI.run(Array(CommandLine.arguments.dropFirst())))
