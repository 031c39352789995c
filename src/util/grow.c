#include "grow.h"

#include <stdint.h>
#include <stdlib.h>

int grow_to(void **v, size_t *cap, size_t need, size_t size, size_t first, size_t max)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : (first ? first : 1);
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return -1;
        ncap *= 2;
    }
    if (max && ncap > max)
        ncap = max;
    if (ncap < need || ncap > SIZE_MAX / size)
        return -1;
    void *nv = realloc(*v, ncap * size);
    if (!nv)
        return -1;
    *v = nv;
    *cap = ncap;
    return 0;
}
