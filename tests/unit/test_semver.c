/* test_semver.c — SemVer-like version comparison (install-and-runtime.md
 * §14) as used for min-bundle-version. */
#include "common/semver.h"

static gint cmp(const gchar *a, const gchar *b)
{
	gint out = 42;

	if (!rota_version_compare(a, b, &out))
		g_error("'%s' vs '%s' did not compare", a, b);
	return out;
}

/* a < b, checked both ways round. */
static void assert_less(const gchar *a, const gchar *b)
{
	if (!(cmp(a, b) < 0))
		g_error("expected '%s' < '%s'", a, b);
	if (!(cmp(b, a) > 0))
		g_error("expected '%s' > '%s'", b, a);
}

static void assert_equal(const gchar *a, const gchar *b)
{
	if (cmp(a, b) != 0 || cmp(b, a) != 0)
		g_error("expected '%s' == '%s'", a, b);
}

static void assert_invalid(const gchar *v)
{
	gint out = 0;

	/* invalid on either side */
	if (rota_version_compare(v, "1.0.0", &out))
		g_error("'%s' was accepted as a version (left)", v);
	if (rota_version_compare("1.0.0", v, &out))
		g_error("'%s' was accepted as a version (right)", v);
}

static void test_version_equal(void)
{
	assert_equal("1.0.0", "1.0.0");
	assert_equal("0.0.0", "0.0.0");
	assert_equal("18446744073709551615", "18446744073709551615.0.0");
}

static void test_version_missing_parts_are_zero(void)
{
	assert_equal("2024", "2024.0.0");
	assert_equal("1.2", "1.2.0");
	assert_less("1", "1.0.1");
	assert_less("1.2", "1.2.1");
}

static void test_version_core_numeric(void)
{
	assert_less("1.2.3", "1.2.4");
	assert_less("1.2.9", "1.3.0");
	assert_less("1.9", "1.10");           /* numerically, not by bytes */
	assert_less("1.99.99", "2");
	assert_less("0.9.9", "1.0.0");
	assert_less("2023.12", "2024.01");
}

static void test_version_prerelease_lower(void)
{
	assert_less("1.0.0-rc1", "1.0.0");
	assert_less("1.0.0-alpha", "1.0.0");
	assert_less("2024-rc.1", "2024");
	/* but a pre-release of a higher core is higher */
	assert_less("1.0.0", "1.0.1-alpha");
}

static void test_version_prerelease_fields(void)
{
	assert_less("1.0.0-alpha", "1.0.0-alpha.1");      /* shorter is smaller */
	assert_less("1.0.0-alpha.1", "1.0.0-alpha.beta"); /* numeric < non-numeric */
	assert_less("1.0.0-1", "1.0.0-a");
	assert_less("1.0.0-beta.2", "1.0.0-beta.11");     /* numbers numerically */
	assert_less("1.0.0-alpha", "1.0.0-beta");         /* strings by byte order */
	assert_less("1.0.0-Beta", "1.0.0-alpha");         /* 'B' < 'a' */
	assert_less("1.0.0-rc.1", "1.0.0-rc.2");
	assert_equal("1.0.0-rc.1", "1.0.0-rc.1");
}

static void test_version_build_ignored(void)
{
	assert_equal("1.0.0+build5", "1.0.0");
	assert_equal("1.0.0+build5", "1.0.0+other.7");
	assert_equal("1.0.0-rc1+b", "1.0.0-rc1");
	assert_less("1.0.0-rc1+zzz", "1.0.0+aaa");
}

static void test_version_invalid(void)
{
	assert_invalid("");
	assert_invalid("abc");
	assert_invalid("v1.0");
	assert_invalid("1.x");
	assert_invalid("1..2");
	assert_invalid("1.2.3.4");
	assert_invalid("1.2.");
	assert_invalid("-rc1");
	assert_invalid("+build");
	assert_invalid("1.-2");
	assert_invalid("99999999999999999999"); /* beyond 64 bits */
}

static void test_version_invalid_with_prerelease(void)
{
	gint out = 0;

	/* the pre-release part is parsed before the core is rejected: no leak, no crash */
	g_assert_false(rota_version_compare("x.y-rc1", "1.0.0-rc2", &out));
	g_assert_false(rota_version_compare("1.0.0-rc2", "x.y-rc1", &out));
	g_assert_false(rota_version_compare("x-rc1", "y-rc2", &out));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/install/version/equal", test_version_equal);
	g_test_add_func("/install/version/missing-parts-are-zero", test_version_missing_parts_are_zero);
	g_test_add_func("/install/version/core-numeric", test_version_core_numeric);
	g_test_add_func("/install/version/prerelease-lower", test_version_prerelease_lower);
	g_test_add_func("/install/version/prerelease-fields", test_version_prerelease_fields);
	g_test_add_func("/install/version/build-ignored", test_version_build_ignored);
	g_test_add_func("/install/version/invalid", test_version_invalid);
	g_test_add_func("/install/version/invalid-with-prerelease", test_version_invalid_with_prerelease);
	return g_test_run();
}
