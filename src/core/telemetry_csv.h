/*
 * telemetry_csv.h - one row of the PSU history CSV (issue 11, section 2;
 * docs/prediction.md "The history file"):
 *   t,psu,vin_v,iin_a,vout_v,iout_a,pin_w,pout_w,temp_c,inlet_c,fan_rpm,status_word
 * t is Unix seconds, status_word is PMBus STATUS_WORD as 0xNNNN, an empty
 * field means "not read". Pure: the caller reads the lines and counts them;
 * every error names the line and the field.
 */
#ifndef TELEMETRY_CSV_H
#define TELEMETRY_CSV_H

#include <stddef.h>
#include <stdint.h>

#define TCSV_ID_LEN 32    /* a PSU id, with its NUL */
#define TCSV_FIELD_MAX 64 /* a numeric field longer than this is an error */

/* The measured quantities, in the column order after t and psu. */
enum tcsv_value {
    TCSV_VIN_V,
    TCSV_IIN_A,
    TCSV_VOUT_V,
    TCSV_IOUT_A,
    TCSV_PIN_W,
    TCSV_POUT_W,
    TCSV_TEMP_C,
    TCSV_INLET_C,
    TCSV_FAN_RPM,
    TCSV_NVALUES
};

struct tcsv_row {
    int64_t t;              /* Unix seconds */
    char psu[TCSV_ID_LEN];  /* [A-Za-z0-9_.:-], not empty */
    double v[TCSV_NVALUES]; /* NaN = not read */
    int32_t status_word;    /* -1 = not read, else 0..0xffff */
};

/* The header line, exactly. */
extern const char tcsv_header_line[];
/* The name of column i (0 = t, 1 = psu, 2.. the values, 11 = status_word). */
const char *tcsv_column_name(int i);

/* Checks the header line (len bytes, no newline; a trailing CR is allowed).
 * 0, or -1 with err saying what differs. */
int tcsv_check_header(const char *line, size_t len, char *err, size_t errlen);

/* Parses one data line (len bytes, no newline; a trailing CR is allowed;
 * NUL bytes are errors). lineno names the line in errors. 0 and *row
 * filled, or -1 with err "line N: FIELD: what is wrong" and *row undefined. */
int tcsv_parse_row(const char *line, size_t len, long lineno, struct tcsv_row *row, char *err,
                   size_t errlen);

/* The row as a CSV line (no newline) into buf; the length written, or -1 if
 * it does not fit. Parsing the result gives back the row (values to %.9g). */
int tcsv_format_row(const struct tcsv_row *row, char *buf, size_t len);

#endif
