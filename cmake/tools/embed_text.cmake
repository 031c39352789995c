# Writes a text file into a C source as a byte array, so that a program carries
# it built in: cmake -DIN=file -DOUT=file.c -DNAME=symbol -P embed_text.cmake.
# Defines `const char NAME[]` (NUL-terminated) and `const size_t NAME_len`.
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" hexlen)
math(EXPR len "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n    "
       bytes "${bytes}")
file(WRITE "${OUT}"
     "/* Generated from ${IN} by cmake/tools/embed_text.cmake: do not edit. */\n"
     "#include <stddef.h>\n"
     "const char ${NAME}[] = {\n    ${bytes}0x00};\n"
     "const size_t ${NAME}_len = ${len};\n")
