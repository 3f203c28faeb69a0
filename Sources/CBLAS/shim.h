// OpenBLAS's CBLAS header plus its openblas_* extras (core name, thread count).
#include <cblas.h>
