# Several controllers for one rack (issue 9, docs/controllers.md): the rack
# bus's messages (src/wire/rackbus.c, HMAC-SHA256 by GnuTLS) and the pure
# node state machines (src/node/).
if(NOT TARGET PkgConfig::GNUTLS)
  pkg_check_modules(GNUTLS REQUIRED IMPORTED_TARGET gnutls)
endif()

add_library(rpwire_bus STATIC src/wire/rackbus.c)
target_include_directories(rpwire_bus PUBLIC src/wire)
target_link_libraries(rpwire_bus PUBLIC PkgConfig::GNUTLS)

rp_test(test_rackbus rpwire_bus)

# node: the pure protocol roles (src/node/), no I/O and no clock
add_library(rpnode STATIC src/node/guard.c src/node/node.c)
target_include_directories(rpnode PUBLIC src/node)
target_link_libraries(rpnode PUBLIC rpwire_bus rputil) # rputil: grow_to, for node_out

rp_test(test_guard rpnode)
rp_test(test_node rpnode)
