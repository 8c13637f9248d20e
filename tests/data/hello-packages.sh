# Sourced by make-submissions.sh and make-hostile.sh: the "hello" .deb and
# .rpm both corpora start from, built by dpkg-deb and rpmbuild in the
# current directory (which they clutter: run them in a scratch one).

# hello_deb ARCH COMPRESSION OUT: a .deb for Debian architecture ARCH.
hello_deb() {
    rm -rf deb; mkdir -p deb/DEBIAN deb/usr/bin
    printf '#!/bin/sh\necho hello\n' > deb/usr/bin/hello && chmod 755 deb/usr/bin/hello
    cat > deb/DEBIAN/control <<CTL
Package: hello
Version: 1.0
Architecture: $1
Maintainer: Example Co. <dev@example.invalid>
Description: hello
CTL
    dpkg-deb --root-owner-group "-Z$2" --build deb "$3" >/dev/null
}

# hello_rpm OUT: an x86_64 .rpm.
hello_rpm() {
    rm -rf rpm; mkdir -p rpm/SPECS
    cat > rpm/SPECS/hello.spec <<SPEC
Name: hello
Version: 1.0
Release: 1
Summary: hello
License: MIT
%description
hello
%install
mkdir -p %{buildroot}/usr/bin
printf '#!/bin/sh\necho hello\n' > %{buildroot}/usr/bin/hello
chmod 755 %{buildroot}/usr/bin/hello
%files
/usr/bin/hello
SPEC
    rpmbuild -bb --quiet --define "_topdir $PWD/rpm" --define "_build_id_links none" --target x86_64 \
        rpm/SPECS/hello.spec >/dev/null 2>&1
    cp rpm/RPMS/x86_64/hello-1.0-1.x86_64.rpm "$1"
}
