# Install rules and the Debian package (cpack -G DEB). Layout (prefix /usr for the .deb):
#   bin/routerscope, share/routerscope/demo (found by the binary as ../share/routerscope/demo),
#   share/doc/routerscope, share/man/man1/routerscope.1, share/applications/routerscope.desktop,
#   share/icons/hicolor/*/apps/routerscope.{png,svg}, bash and zsh completion.
include(GNUInstallDirs)
# Lower-case like the package and the binary (GNUInstallDirs would use the project name).
set(ROUTERSCOPE_INSTALL_DOCDIR ${CMAKE_INSTALL_DATAROOTDIR}/doc/routerscope)

install(TARGETS routerscope RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_BINARY_DIR}/assets/demo/
        DESTINATION ${CMAKE_INSTALL_DATADIR}/routerscope/demo)
install(FILES README.md DESTINATION ${ROUTERSCOPE_INSTALL_DOCDIR})
install(DIRECTORY docs/ DESTINATION ${ROUTERSCOPE_INSTALL_DOCDIR})

configure_file(packaging/routerscope.1 ${PROJECT_BINARY_DIR}/packaging/routerscope.1 @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/packaging/routerscope.1
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES packaging/routerscope.bash
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME routerscope)
install(FILES packaging/_routerscope DESTINATION ${CMAKE_INSTALL_DATADIR}/zsh/vendor-completions)
install(DIRECTORY ${PROJECT_BINARY_DIR}/assets/icons/hicolor
        DESTINATION ${CMAKE_INSTALL_DATADIR}/icons)
if(ROUTERSCOPE_HAVE_GUI)
  install(FILES packaging/routerscope.desktop DESTINATION ${CMAKE_INSTALL_DATADIR}/applications)
endif()

set(CPACK_PACKAGE_NAME routerscope)
set(CPACK_PACKAGE_VENDOR "RouterScope")
set(CPACK_PACKAGE_CONTACT "RouterScope maintainers <routerscope@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Router-expert alignment and Manifold Power Iteration for Mixture-of-Experts models")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
# Library dependencies come from dpkg-shlibdeps on the installed binary (HDF5, Cairo, GLFW, ...).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Figures are typeset in DejaVu Sans; Cairo falls back to another font without it.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "fonts-dejavu-core")
include(CPack)
