# Installation layout beyond the programs (whose install(TARGETS) rules sit
# next to them) and the Debian package that CPack builds from it. Included
# from the top-level CMakeLists.txt after every target is defined.
#
#   cmake --install build --prefix /usr        (or DESTDIR=/tmp/root cmake --install ...)
#   cd build && cpack -G DEB                    (drover_<version>_<arch>.deb)
#
# Layout with prefix /usr:
#   /usr/bin/drover, drover-master, drover-worker
#   /etc/drover/master.yaml.example, worker.yaml.example
#   /lib/systemd/system/drover-master.service, drover-worker.service, drover-worker@.service
#   /usr/share/bash-completion/completions/drover
#
# The example configs keep the `.example` suffix: `drover-master init
# --config-dir /etc/drover` writes master.yaml and worker.yaml there and
# refuses to overwrite an existing file.

set(DROVER_COMPLETION ${PROJECT_SOURCE_DIR}/cli/completion/drover.bash)
if(EXISTS ${DROVER_COMPLETION})
  install(FILES ${DROVER_COMPLETION} DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
          RENAME drover)
endif()

# Files that belong under /etc and /lib rather than /usr/etc and /usr/lib when
# the prefix is /usr (or /). The prefix may be chosen at install time
# (`cmake --install --prefix`), so the destination is decided by the install
# script, not here; GNUInstallDirs' own /usr special case only looks at the
# prefix given at configure time. file(INSTALL) adds $DESTDIR itself.
function(drover_install_outside_usr subdir file rename mode)
  install(CODE "
    if(CMAKE_INSTALL_PREFIX STREQUAL \"/usr\" OR CMAKE_INSTALL_PREFIX STREQUAL \"/\")
      set(_drover_dest \"/${subdir}\")
    else()
      set(_drover_dest \"\${CMAKE_INSTALL_PREFIX}/${subdir}\")
    endif()
    file(INSTALL DESTINATION \"\${_drover_dest}\" TYPE FILE PERMISSIONS ${mode}
         RENAME \"${rename}\" FILES \"${file}\")
  ")
endfunction()

set(DROVER_FILE_MODE OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
foreach(config master worker)
  drover_install_outside_usr(etc/drover ${PROJECT_SOURCE_DIR}/configs/${config}.yaml
                             ${config}.yaml.example "${DROVER_FILE_MODE}")
endforeach()
foreach(unit drover-master.service drover-worker.service drover-worker@.service)
  drover_install_outside_usr(lib/systemd/system ${PROJECT_SOURCE_DIR}/deploy/systemd/${unit}
                             ${unit} "${DROVER_FILE_MODE}")
endforeach()

# --- Debian package --------------------------------------------------------
# Maintainer scripts (deploy/debian): postinst creates the system users `drover`
# (tasks) and `drover-master`
# and the directories and never enables or starts a unit; prerm stops the
# units on removal; postrm removes the user and /var/lib/drover on purge.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME drover)
set(CPACK_PACKAGE_VENDOR "drover developers")
set(CPACK_PACKAGE_CONTACT "drover developers <dev@drover.local>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "cluster manager and batch job runner")
# CPack puts the summary first and indents these lines; an empty line separates paragraphs.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
  "drover-master accepts job bundles over HTTP, schedules their tasks and keeps
durable state in SQLite; drover-worker runs tasks as OS processes in private
namespaces as an unprivileged user and reports back, so failed work is
rescheduled; the drover CLI submits and follows jobs.

The package installs systemd units but neither enables nor starts them:
run `drover-master init` first.")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# The install script above decides /etc vs. /usr/etc from CMAKE_INSTALL_PREFIX,
# so CPack must install with the real prefix into a DESTDIR, not with a staging
# directory as the prefix.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
# Library dependencies from dpkg-shlibdeps (dpkg-dev, with `file`; deploy/install-deps.sh
# installs both); without them, Debian 12's names by hand. adduser for postinst.
find_program(DROVER_DPKG_SHLIBDEPS dpkg-shlibdeps)
find_program(DROVER_FILE_PROGRAM file)
if(DROVER_DPKG_SHLIBDEPS AND DROVER_FILE_PROGRAM)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
else()
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, libc6, libstdc++6, libgcc-s1, libssl3, libsqlite3-0, \
libarchive13, libyaml-cpp0.7, libspdlog1.10, libfmt9, libjemalloc2")
endif()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/deploy/debian/postinst
  ${PROJECT_SOURCE_DIR}/deploy/debian/prerm
  ${PROJECT_SOURCE_DIR}/deploy/debian/postrm
  ${PROJECT_SOURCE_DIR}/deploy/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# Only what `cmake --install` installs: the tests and fuzz targets have no install rules.
include(CPack)
